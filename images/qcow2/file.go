package qcow2

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FileOptions tune OpenFile.
type FileOptions struct {
	// BackingDir allows backing files, but only ones inside this directory
	// (the image cache). Empty refuses every image that has a backing file.
	BackingDir string
}

// File is an opened disk image file, raw or qcow2, read as its guest view.
type File struct {
	f       *os.File
	format  Format
	img     *Image // nil for raw
	size    int64
	closers []func() error
}

// OpenFile opens path and detects its format. Formats other than raw and qcow2
// are refused with ErrUnsupported.
func OpenFile(path string, opts FileOptions) (*File, error) {
	return openFile(path, "", opts, 0)
}

func openFile(path string, want Format, opts FileOptions, depth int) (*File, error) {
	if depth > maxBackingDepth {
		return nil, corrupt("backing file", "chain deeper than %d at %q (a loop?)", maxBackingDepth, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("qcow2: opening image: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("qcow2: %w", err)
	}
	format := want
	if format == "" {
		if format, err = Detect(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("qcow2: detecting format of %s: %w", path, err)
		}
	}
	out := &File{f: f, format: format, size: fi.Size()}
	switch format {
	case FormatRaw:
		return out, nil
	case FormatQCOW2:
	default:
		f.Close()
		return nil, unsupported("format", "%s is a %s image; only raw and qcow2 are read", path, format)
	}
	var chain []*File
	img, err := Open(f, fi.Size(), Options{Backing: func(name, bfmt string) (Source, error) {
		p, err := resolveBacking(path, name, opts.BackingDir)
		if err != nil {
			return nil, err
		}
		var want Format
		switch bfmt {
		case "", "raw", "qcow2":
			want = Format(bfmt)
		default:
			return nil, unsupported("backing format", "%q for %q", bfmt, name)
		}
		b, err := openFile(p, want, opts, depth+1)
		if err != nil {
			return nil, err
		}
		chain = append(chain, b)
		return b, nil
	}})
	if err != nil {
		for _, b := range chain {
			b.Close()
		}
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, b := range chain {
		out.closers = append(out.closers, b.Close)
	}
	out.img, out.size = img, img.Size()
	return out, nil
}

// resolveBacking turns a backing name into a path inside dir, relative names
// being relative to the overlay as QEMU resolves them.
func resolveBacking(overlay, name, dir string) (string, error) {
	if dir == "" {
		return "", &Error{Kind: ErrBackingRefused, Field: "backing file", Detail: fmt.Sprintf("%q: backing files are not allowed here", name)}
	}
	if strings.Contains(name, ":") && !filepath.IsAbs(name) {
		return "", &Error{Kind: ErrBackingRefused, Field: "backing file", Detail: fmt.Sprintf("%q: protocol-style names are refused", name)}
	}
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(overlay), p)
	}
	absDir, err1 := filepath.Abs(dir)
	absP, err2 := filepath.Abs(p)
	if err1 != nil || err2 != nil {
		return "", &Error{Kind: ErrBackingRefused, Field: "backing file", Detail: fmt.Sprintf("%q cannot be resolved", name)}
	}
	// Resolve symlinks so a link in the cache cannot point outside it.
	if r, err := filepath.EvalSymlinks(absP); err == nil {
		absP = r
	}
	if r, err := filepath.EvalSymlinks(absDir); err == nil {
		absDir = r
	}
	rel, err := filepath.Rel(absDir, absP)
	if err != nil || !filepath.IsLocal(rel) {
		return "", &Error{Kind: ErrBackingRefused, Field: "backing file", Detail: fmt.Sprintf("%q lies outside %s", name, dir)}
	}
	return absP, nil
}

// Format is the detected format of the file (not of its backing files).
func (f *File) Format() Format { return f.format }

// Image returns the qcow2 view, or nil for raw files.
func (f *File) Image() *Image { return f.img }

// Size is the guest-visible size.
func (f *File) Size() int64 { return f.size }

// ReadAt reads guest bytes.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if f.img != nil {
		return f.img.ReadAt(p, off)
	}
	return f.f.ReadAt(p, off)
}

// Close closes the file and its backing chain.
func (f *File) Close() error {
	err := f.f.Close()
	for _, c := range f.closers {
		if e := c(); err == nil {
			err = e
		}
	}
	return err
}
