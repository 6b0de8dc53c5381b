package conf

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Sources says which files to read, as nova-compute's --config-file and --config-dir arguments do.
type Sources struct {
	// ConfigFiles are read in order; later files win. Each must exist and be readable.
	ConfigFiles []string
	// ConfigDirs are read after ConfigFiles, each as DIR/*.conf in sorted order. Each must exist.
	ConfigDirs []string
}

// DefaultFiles are read, when present, if Sources names no file and no directory: Linux's place, then FreeBSD's.
var DefaultFiles = []string{"/etc/nova/nova.conf", "/usr/local/etc/nova/nova.conf"}

// maxFileSize bounds one config file; the largest real nova.conf (the full sample) is about 400 KiB.
const maxFileSize = 64 << 20

// resolved is one option's effective value and where it came from (no locations: the default).
type resolved struct {
	value any
	locs  []Location
}

// Load reads the files src names (or DefaultFiles) and resolves every declared option: the value of the latest file
// that sets it (under its current name first, then its deprecated names), interpolated and converted to its type,
// else its default. Bad input yields one *Error naming the file, line, group, option and reason.
func Load(src Sources) (*Config, error) {
	paths, err := configPaths(src)
	if err != nil {
		return nil, err
	}
	files := make([]*parsedFile, 0, len(paths))
	for _, p := range paths {
		data, err := readConfigFile(p)
		if err != nil {
			return nil, err
		}
		pf, err := parseINI(p, data)
		if err != nil {
			return nil, err
		}
		files = append(files, pf)
	}
	return resolveAll(paths, files)
}

// resolveAll turns parsed files into a Config; shared by Load and the fuzz target.
func resolveAll(paths []string, files []*parsedFile) (*Config, error) {
	ix := optionIndex()
	cfg := &Config{Files: paths, values: map[Name]*resolved{}}
	for _, pf := range files {
		for _, a := range pf.assignments {
			if !ix.known(Name{a.group, a.key}) {
				cfg.Unknown = append(cfg.Unknown, Location{File: pf.path, Line: a.line, Group: a.group, Key: a.key})
			}
		}
	}
	r := &resolver{files: files, ix: ix, cfg: cfg, active: map[*Option]bool{}, where: map[*Option]Location{}}
	for _, o := range registry() {
		if _, err := r.resolve(o); err != nil {
			return nil, err
		}
	}
	if err := bind(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// configPaths lists the files to read in reading order.
func configPaths(src Sources) ([]string, error) {
	if len(src.ConfigFiles) == 0 && len(src.ConfigDirs) == 0 {
		var found []string
		for _, p := range DefaultFiles {
			if _, err := os.Stat(p); err == nil {
				found = append(found, p)
			}
		}
		return found, nil
	}
	paths := append([]string(nil), src.ConfigFiles...)
	for _, d := range src.ConfigDirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			return nil, &Error{File: d, Reason: "cannot read config directory: " + ioReason(err), Err: err}
		}
		var names []string
		for _, e := range entries {
			n := e.Name()
			// Python's glob("*.conf") skips dot files; directories named *.conf are not files to read.
			if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".conf") {
				continue
			}
			if st, err := os.Stat(filepath.Join(d, n)); err == nil && st.IsDir() {
				continue
			}
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			paths = append(paths, filepath.Join(d, n))
		}
	}
	return paths, nil
}

func readConfigFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, &Error{File: p, Reason: "cannot read config file: " + ioReason(err), Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, &Error{File: p, Reason: "cannot read config file: " + ioReason(err), Err: err}
	}
	if len(data) > maxFileSize {
		return nil, &Error{File: p, Reason: fmt.Sprintf("config file is larger than %d MiB", maxFileSize>>20)}
	}
	return data, nil
}

// ioReason names the common failures in words, without repeating the path.
func ioReason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file or directory"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// resolver computes option values on demand, so that `$references` resolve whatever the declaration order.
type resolver struct {
	files  []*parsedFile
	ix     *index
	cfg    *Config
	active map[*Option]bool
	stack  []*Option
	where  map[*Option]Location // file location of the value being resolved, for cycle messages
}

func (r *resolver) resolve(o *Option) (*resolved, error) {
	key := Name{o.Group, o.Name}
	if v, ok := r.cfg.values[key]; ok {
		return v, nil
	}
	if r.active[o] {
		return nil, r.cycle(o)
	}
	r.active[o] = true
	r.stack = append(r.stack, o)
	defer func() {
		delete(r.active, o)
		r.stack = r.stack[:len(r.stack)-1]
	}()
	res, err := r.compute(o)
	if err != nil {
		return nil, err
	}
	r.cfg.values[key] = res
	return res, nil
}

// compute finds the option's winning value(s) in the files, or falls back to the default.
func (r *resolver) compute(o *Option) (*resolved, error) {
	names := o.names()
	if o.Kind == KindMulti {
		var vals []string
		var locs []Location
		for i := len(r.files) - 1; i >= 0; i-- {
			// oslo prepends each earlier file's values (and, within a file, each later name's): keep that order.
			for _, n := range names {
				found := r.files[i].groups[n.Group][n.Name]
				if len(found) == 0 {
					continue
				}
				var fv []string
				var fl []Location
				for _, v := range found {
					loc := Location{File: r.files[i].path, Line: v.line, Group: n.Group, Key: n.Name}
					s, err := r.substitute(v.value, o, &loc)
					if err != nil {
						return nil, err
					}
					fv, fl = append(fv, s), append(fl, loc)
					r.noteDeprecated(o, n, loc)
				}
				vals, locs = append(fv, vals...), append(fl, locs...)
			}
		}
		if locs != nil {
			return &resolved{value: vals, locs: locs}, nil
		}
		return r.fromDefault(o)
	}
	for i := len(r.files) - 1; i >= 0; i-- {
		for _, n := range names {
			found := r.files[i].groups[n.Group][n.Name]
			if len(found) == 0 {
				continue
			}
			last := found[len(found)-1]
			loc := Location{File: r.files[i].path, Line: last.line, Group: n.Group, Key: n.Name}
			r.noteDeprecated(o, n, loc)
			r.where[o] = loc
			s, err := r.substitute(last.value, o, &loc)
			if err != nil {
				return nil, err
			}
			v, reason := o.convert(s)
			if reason != "" {
				return nil, locError(loc, reason)
			}
			if v == nil { // an empty number: keep the default, but say where it was emptied
				d, err := r.fromDefault(o)
				if err != nil {
					return nil, err
				}
				return &resolved{value: d.value, locs: []Location{loc}}, nil
			}
			return &resolved{value: v, locs: []Location{loc}}, nil
		}
	}
	return r.fromDefault(o)
}

func (r *resolver) noteDeprecated(o *Option, n Name, loc Location) {
	if n != (Name{o.Group, o.Name}) {
		r.cfg.Deprecated = append(r.cfg.Deprecated, DeprecatedUse{Location: loc, Use: Name{o.Group, o.Name}})
	}
}

// fromDefault interpolates and type-checks the default, as oslo does when it returns one.
func (r *resolver) fromDefault(o *Option) (*resolved, error) {
	d := o.Default
	if o.computed != nil {
		d = o.computed()
	}
	switch x := d.(type) {
	case string:
		s, err := r.substitute(x, o, nil)
		if err != nil {
			return nil, err
		}
		v, reason := o.convert(s)
		if reason != "" {
			return nil, &Error{Group: o.Group, Option: o.Name, Reason: "default value: " + reason}
		}
		return &resolved{value: v}, nil
	case []string:
		out := make([]string, len(x))
		for i, item := range x {
			s, err := r.substitute(item, o, nil)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return &resolved{value: out}, nil
	}
	return &resolved{value: d}, nil
}

func locError(loc Location, reason string) *Error {
	return &Error{File: loc.File, Line: loc.Line, Group: loc.Group, Option: loc.Key, Reason: reason}
}

// Where returns the file location of an option's effective value (the last line, for a multi-valued option set on
// several lines) and whether a file set it at all: false means the value is the default, which lets a caller tell an
// operator's explicit choice from a default that merely equals it.
func (c *Config) Where(group, name string) (Location, bool) {
	res, ok := c.values[Name{normalizeGroup(group), name}]
	if !ok || len(res.locs) == 0 {
		return Location{}, false
	}
	return res.locs[len(res.locs)-1], true
}

// Source says where the effective value of an option came from: "file:line" (several, comma-separated, for a
// multi-valued option set on several lines), "default", or "" if no such option is declared.
func (c *Config) Source(group, name string) string {
	res, ok := c.values[Name{normalizeGroup(group), name}]
	if !ok {
		return ""
	}
	if len(res.locs) == 0 {
		return "default"
	}
	parts := make([]string, len(res.locs))
	for i, l := range res.locs {
		parts[i] = l.File + ":" + strconv.Itoa(l.Line)
	}
	return strings.Join(parts, ", ")
}
