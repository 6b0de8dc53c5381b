package configdrive

import (
	"fmt"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// The ISO is written with github.com/diskfs/go-diskfs rather than by running genisoimage as Nova does: it is
// pure Go, so the drive is made the same way on FreeBSD (where genisoimage is not in the base system) and Linux,
// no user data ever goes near a command line, and its iso9660 writer does what guests need: Rock Ridge for the
// lowercase long names (openstack/latest/meta_data.json) and the volume label (its Joliet is broken: see
// writeISO). Writing ISO 9660 with Rock Ridge by hand would be a second, untested file system writer.

// blockSize is ISO 9660's logical block size.
const blockSize = 2048

// pvdVolumeID is the offset of the primary volume descriptor's volume identifier: sector 16, byte 40.
const pvdVolumeID = 16*blockSize + 40

// epoch is the time stamp of every file: the content, not the clock, decides the drive's bytes.
var epoch = time.Unix(0, 0).UTC()

// writeISO writes files (drive path -> content) as an ISO 9660 file system into f, which must be empty.
func writeISO(f *os.File, files map[string][]byte) error {
	// go-diskfs assembles the tree in a workspace directory and lays it out on Finalize; the workspace lives
	// next to the drive (same file system, same permissions) and goes when the drive is written.
	ws, err := os.MkdirTemp(filepath.Dir(f.Name()), ".configdrive-ws*")
	if err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	defer os.RemoveAll(ws)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// Names come from this package only, but a name that could leave the workspace is refused all the same.
		clean := path.Clean(name)
		if clean != name || path.IsAbs(name) || strings.HasPrefix(name, "../") || name == ".." {
			return fmt.Errorf("%w: file name %q", ErrInvalid, name)
		}
		p := filepath.Join(ws, filepath.FromSlash(name))
		// Modes as genisoimage -r gives them: everything world-readable, nothing writable (the workspace itself
		// is private to this process until it is removed).
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[name], 0o444); err != nil {
			return err
		}
		if err := os.Chtimes(p, epoch, epoch); err != nil {
			return err
		}
	}
	// Directories get the fixed time stamp too, deepest first (writing a file changes its directory's).
	var dirs []string
	_ = filepath.WalkDir(ws, func(p string, d iofs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chtimes(dirs[i], epoch, epoch); err != nil {
			return err
		}
	}
	fs, err := iso9660.Create(file.New(f, false), 0, 0, blockSize, ws)
	if err != nil {
		return fmt.Errorf("creating the ISO 9660 file system: %w", err)
	}
	err = fs.Finalize(iso9660.FinalizeOptions{
		RockRidge: true,
		// No Joliet: go-diskfs v1.9.4 writes a Joliet tree whose directories below the root point at the primary
		// tree's extents, so Joliet readers see 8.3 names read as UCS-2 ("____" for 2009-04-04; isoinfo -J -l).
		// A wrong Joliet tree is worse than none; Linux and FreeBSD read the Rock Ridge names.
		Joliet:           false,
		VolumeIdentifier: Label,
	})
	if err != nil {
		return fmt.Errorf("writing the ISO 9660 file system: %w", err)
	}
	// go-diskfs pads the volume identifier with NULs; ISO 9660 pads its d-characters with spaces, as genisoimage
	// writes them, and some readers print the label with the NULs.
	id := make([]byte, 32)
	if _, err := f.ReadAt(id, pvdVolumeID); err != nil {
		return fmt.Errorf("reading the volume descriptor: %w", err)
	}
	if string(id[:len(Label)]) != Label {
		return fmt.Errorf("the volume descriptor does not hold the label %q", Label)
	}
	for i := len(Label); i < len(id); i++ {
		id[i] = ' '
	}
	if _, err := f.WriteAt(id, pvdVolumeID); err != nil {
		return fmt.Errorf("writing the volume descriptor: %w", err)
	}
	// The last file's final block is written only as far as the file goes: pad the image to whole blocks, so
	// that it is as long as the volume size its descriptor records (readers and block devices expect that).
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if rem := st.Size() % blockSize; rem != 0 {
		if err := f.Truncate(st.Size() + blockSize - rem); err != nil {
			return fmt.Errorf("padding the ISO image: %w", err)
		}
	}
	return nil
}
