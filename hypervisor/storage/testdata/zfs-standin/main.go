// Command zfs-standin is a STAND-IN for zfs(8) and zpool(8) used by the
// storage tests on hosts without ZFS. It is not ZFS: it keeps the dataset
// namespace in a JSON state file and answers the subcommands the ZFS backend
// uses (create [-p] [-s] [-V size] [-o k=v], snapshot, clone [-p], destroy
// [-r] [-R], list [-r|-d N] [-H] [-p] [-t types] [-o props], get, set) with
// the output formats, exit status 1 and error messages zfs(8) documents,
// including the refusals that matter for clean-up: a dataset with children
// needs -r, a snapshot with dependent clones needs -R.
//
// Data is not modelled: a volume's "device" under $ZFS_STANDIN_DEVDIR is a
// sparse file of volsize bytes, and a clone's device starts empty rather
// than showing its origin's bytes.
//
// Environment: ZFS_STANDIN_STATE (state file, required), ZFS_STANDIN_POOLS
// (comma-separated pools that exist initially), ZFS_STANDIN_DEVDIR (where
// volume device files go; unset: none), ZFS_STANDIN_FAIL (a subcommand, or
// "set:PROP", that fails with exit 1 to test clean-up).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

type dataset struct {
	Type    string            `json:"type"` // filesystem, volume, snapshot
	Origin  string            `json:"origin,omitempty"`
	Volsize uint64            `json:"volsize,omitempty"`
	Props   map[string]string `json:"props,omitempty"`
}

type state struct {
	Datasets map[string]*dataset `json:"datasets"`
}

var st state

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(1)
}

func main() {
	path := os.Getenv("ZFS_STANDIN_STATE")
	if path == "" {
		die("zfs-standin: ZFS_STANDIN_STATE not set")
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		die("zfs-standin: %v", err)
	}
	syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	load(path)
	args := os.Args[1:]
	if len(args) == 0 {
		die("usage: zfs command args ...")
	}
	if f := os.Getenv("ZFS_STANDIN_FAIL"); f != "" && (f == args[0] || args[0] == "set" && len(args) > 1 && strings.HasPrefix(f, "set:") && strings.HasPrefix(args[1], f[4:]+"=")) {
		die("cannot %s: injected failure (ZFS_STANDIN_FAIL=%s)", args[0], f)
	}
	if filepath.Base(os.Args[0]) == "zpool" {
		zpool(args)
		return
	}
	changed := true
	switch args[0] {
	case "create":
		create(args[1:])
	case "snapshot":
		snapshot(args[1:])
	case "clone":
		clone(args[1:])
	case "destroy":
		destroyCmd(args[1:])
	case "set":
		set(args[1:])
	case "list":
		list(args[1:])
		changed = false
	case "get":
		get(args[1:])
		changed = false
	default:
		die("unrecognized command '%s'", args[0])
	}
	if changed {
		save(path)
	}
}

func load(path string) {
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			die("zfs-standin: state: %v", err)
		}
	}
	if st.Datasets == nil {
		st.Datasets = map[string]*dataset{}
		for _, p := range strings.Split(os.Getenv("ZFS_STANDIN_POOLS"), ",") {
			if p != "" {
				st.Datasets[p] = &dataset{Type: "filesystem"}
			}
		}
	}
}

func save(path string) {
	b, _ := json.MarshalIndent(&st, "", " ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		die("zfs-standin: %v", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		die("zfs-standin: %v", err)
	}
}

func parent(name string) string {
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		return name[:i]
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}

func parseSize(s string) uint64 {
	mult := uint64(1)
	if n := len(s); n > 0 {
		switch strings.ToUpper(s[n-1:]) {
		case "K":
			mult = 1 << 10
		case "M":
			mult = 1 << 20
		case "G":
			mult = 1 << 30
		case "T":
			mult = 1 << 40
		}
		if mult > 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		die("bad numeric value '%s'", s)
	}
	return v * mult
}

func devFile(name string) string {
	d := os.Getenv("ZFS_STANDIN_DEVDIR")
	if d == "" {
		return ""
	}
	return filepath.Join(d, filepath.FromSlash(name))
}

func makeDev(name string, size uint64) {
	p := devFile(name)
	if p == "" {
		return
	}
	os.MkdirAll(filepath.Dir(p), 0o755)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		die("zfs-standin: %v", err)
	}
	f.Truncate(int64(size))
	f.Close()
}

// checkParent enforces zfs(8): the parent must exist unless -p creates it.
func checkParent(verb, name string, p bool) {
	par := parent(name)
	if par == "" {
		die("cannot %s '%s': missing dataset name", verb, name)
	}
	if _, ok := st.Datasets[par]; ok {
		return
	}
	if !p {
		die("cannot %s '%s': parent does not exist", verb, name)
	}
	checkParent(verb, par, true)
	st.Datasets[par] = &dataset{Type: "filesystem"}
}

func opts(args []string, withValue map[string]bool) (flags map[string]string, props map[string]string, rest []string) {
	flags, props = map[string]string{}, map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, args[i:]...)
			break
		}
		for j := 1; j < len(a); j++ {
			f := a[j : j+1]
			if !withValue[f] {
				flags[f] = "1"
				continue
			}
			v := a[j+1:]
			if v == "" {
				i++
				if i >= len(args) {
					die("missing argument for '-%s' option", f)
				}
				v = args[i]
			}
			if f == "o" {
				k, val, ok := strings.Cut(v, "=")
				if !ok {
					die("missing '=' for property=value argument")
				}
				props[k] = val
			} else {
				flags[f] = v
			}
			break
		}
	}
	return
}

func create(args []string) {
	flags, props, rest := opts(args, map[string]bool{"V": true, "o": true, "b": true})
	if len(rest) != 1 {
		die("missing dataset argument")
	}
	name := rest[0]
	if strings.Contains(name, "@") {
		die("cannot create '%s': snapshot delimiter '@' is not expected here", name)
	}
	if _, ok := st.Datasets[name]; ok {
		die("cannot create '%s': dataset already exists", name)
	}
	checkParent("create", name, flags["p"] != "")
	ds := &dataset{Type: "filesystem", Props: props}
	if v, ok := flags["V"]; ok {
		ds.Type, ds.Volsize = "volume", parseSize(v)
		if ds.Volsize == 0 {
			die("cannot create '%s': volume size cannot be zero", name)
		}
		// zfs(8): a volume is created with a refreservation of its size (every block reserved up front) unless
		// -s makes it sparse or the caller sets refreservation itself.
		if _, set := props["refreservation"]; !set {
			if flags["s"] != "" {
				props["refreservation"] = "none"
			} else {
				props["refreservation"] = strconv.FormatUint(ds.Volsize, 10)
			}
		}
		makeDev(name, ds.Volsize)
	}
	st.Datasets[name] = ds
}

func snapshot(args []string) {
	_, _, rest := opts(args, map[string]bool{"o": true})
	if len(rest) != 1 || !strings.Contains(rest[0], "@") {
		die("missing snapshot argument")
	}
	name := rest[0]
	src, ok := st.Datasets[parent(name)]
	if !ok {
		die("cannot open '%s': dataset does not exist", parent(name))
	}
	if _, ok := st.Datasets[name]; ok {
		die("cannot create snapshot '%s': dataset already exists", name)
	}
	st.Datasets[name] = &dataset{Type: "snapshot", Volsize: src.Volsize}
}

func clone(args []string) {
	flags, props, rest := opts(args, map[string]bool{"o": true})
	if len(rest) != 2 {
		die("missing source or target dataset")
	}
	src, dst := rest[0], rest[1]
	s, ok := st.Datasets[src]
	if !ok || s.Type != "snapshot" {
		die("cannot open '%s': dataset does not exist", src)
	}
	if _, ok := st.Datasets[dst]; ok {
		die("cannot create '%s': dataset already exists", dst)
	}
	checkParent("create", dst, flags["p"] != "")
	typ := "filesystem"
	if s.Volsize > 0 {
		typ = "volume"
		makeDev(dst, s.Volsize)
	}
	st.Datasets[dst] = &dataset{Type: typ, Origin: src, Volsize: s.Volsize, Props: props}
}

// descendants returns name and everything beneath it (children, snapshots).
func descendants(name string) []string {
	var out []string
	for n := range st.Datasets {
		if n == name || strings.HasPrefix(n, name+"/") || strings.HasPrefix(n, name+"@") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func destroyCmd(args []string) {
	flags, _, rest := opts(args, nil)
	if len(rest) != 1 {
		die("missing dataset argument")
	}
	name := rest[0]
	if _, ok := st.Datasets[name]; !ok {
		if strings.Contains(name, "@") {
			die("could not find any snapshots to destroy; check snapshot names.")
		}
		die("cannot open '%s': dataset does not exist", name)
	}
	set := map[string]bool{}
	if flags["r"] != "" || flags["R"] != "" {
		for _, n := range descendants(name) {
			set[n] = true
		}
	} else {
		set[name] = true
		if kids := descendants(name); len(kids) > 1 {
			die("cannot destroy '%s': %s has children\nuse '-r' to destroy the following datasets:\n%s", name, st.Datasets[name].Type, strings.Join(kids[1:], "\n"))
		}
	}
	// Clones outside the set depend on snapshots inside it.
	for changed := true; changed; {
		changed = false
		for n, d := range st.Datasets {
			if set[n] || d.Origin == "" || !set[d.Origin] {
				continue
			}
			if flags["R"] == "" {
				die("cannot destroy '%s': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\n%s", d.Origin, n)
			}
			for _, m := range descendants(n) {
				set[m] = true
			}
			changed = true
		}
	}
	for n := range set {
		if p := devFile(n); p != "" && st.Datasets[n].Type == "volume" {
			os.Remove(p)
		}
		delete(st.Datasets, n)
	}
}

func set(args []string) {
	if len(args) != 2 {
		die("missing property=value or dataset argument")
	}
	k, v, ok := strings.Cut(args[0], "=")
	if !ok {
		die("missing '=' for property=value argument")
	}
	d, exists := st.Datasets[args[1]]
	if !exists {
		die("cannot open '%s': dataset does not exist", args[1])
	}
	if k == "volsize" {
		if d.Type != "volume" {
			die("cannot set property for '%s': 'volsize' does not apply to datasets of this type", args[1])
		}
		d.Volsize = parseSize(v)
		makeDev(args[1], d.Volsize)
		return
	}
	if d.Props == nil {
		d.Props = map[string]string{}
	}
	d.Props[k] = v
}

func prop(name, p string) string {
	d := st.Datasets[name]
	num := func(v uint64) string { return strconv.FormatUint(v, 10) }
	switch p {
	case "name":
		return name
	case "type":
		return d.Type
	case "origin":
		if d.Origin == "" {
			return "-"
		}
		return d.Origin
	case "volsize":
		if d.Type == "filesystem" {
			return "-"
		}
		return num(d.Volsize)
	case "used", "referenced", "logicalused", "usedbydataset", "written":
		if d.Origin != "" || d.Type == "snapshot" {
			return "0" // clones and snapshots share their origin's blocks
		}
		return num(d.Volsize)
	case "available":
		if d.Type == "snapshot" {
			return "-"
		}
		return num(1 << 40)
	case "mountpoint":
		if d.Type != "filesystem" {
			return "-"
		}
		if v, ok := d.Props["mountpoint"]; ok {
			return v
		}
		return "/" + name
	case "quota":
		if d.Type != "filesystem" {
			return "-"
		}
		return "0"
	case "compression":
		if v, ok := d.Props[p]; ok {
			return v
		}
		return "off"
	}
	if v, ok := d.Props[p]; ok {
		return v
	}
	return "-"
}

func list(args []string) {
	var fields []string
	var types map[string]bool
	recursive, depth := false, -1
	var names []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-o":
			i++
			fields = strings.Split(args[i], ",")
		case a == "-t":
			i++
			types = map[string]bool{}
			for _, t := range strings.Split(args[i], ",") {
				types[t] = true
			}
		case a == "-d":
			i++
			depth, _ = strconv.Atoi(args[i])
			recursive = true
		case strings.HasPrefix(a, "-"):
			if strings.Contains(a, "r") {
				recursive = true
			}
		default:
			names = append(names, a)
		}
	}
	if fields == nil {
		fields = []string{"name", "used", "available", "referenced", "mountpoint"}
	}
	show := func(n string, explicit bool) bool {
		t := st.Datasets[n].Type
		if types == nil {
			return explicit || t != "snapshot"
		}
		return types["all"] || types[t]
	}
	var out []string
	if len(names) == 0 {
		for n := range st.Datasets {
			if show(n, false) {
				out = append(out, n)
			}
		}
	}
	for _, name := range names {
		if _, ok := st.Datasets[name]; !ok {
			die("cannot open '%s': dataset does not exist", name)
		}
		if !recursive {
			if show(name, true) {
				out = append(out, name)
			}
			continue
		}
		base := strings.Count(name, "/") + strings.Count(name, "@")
		for _, n := range descendants(name) {
			lvl := strings.Count(n, "/") + strings.Count(n, "@") - base
			if (depth < 0 || lvl <= depth) && show(n, n == name) {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	for _, n := range out {
		vals := make([]string, len(fields))
		for i, f := range fields {
			vals[i] = prop(n, f)
		}
		fmt.Println(strings.Join(vals, "\t"))
	}
}

func get(args []string) {
	var rest []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			rest = append(rest, a)
		}
	}
	if len(rest) < 2 {
		die("missing property argument")
	}
	for _, name := range rest[1:] {
		if _, ok := st.Datasets[name]; !ok {
			die("cannot open '%s': dataset does not exist", name)
		}
		for _, p := range strings.Split(rest[0], ",") {
			fmt.Printf("%s\t%s\t%s\t%s\n", name, p, prop(name, p), "-")
		}
	}
}

func zpool(args []string) {
	if args[0] != "list" {
		die("zpool-standin: only 'list' is modelled")
	}
	for n, d := range st.Datasets {
		if !strings.ContainsAny(n, "/@") && d.Type == "filesystem" {
			fmt.Println(n)
		}
	}
}
