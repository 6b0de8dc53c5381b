package qcow2

import (
	"bytes"
	"encoding/binary"
	"io"
)

// Format names a disk image format as Glance's disk_format does.
type Format string

// Formats Detect recognises. Only Raw and QCOW2 can be read; the others are
// recognised so that they are refused rather than booted as raw garbage.
const (
	FormatRaw   Format = "raw"
	FormatQCOW2 Format = "qcow2"
	FormatVMDK  Format = "vmdk"
	FormatVHDX  Format = "vhdx"
	FormatVDI   Format = "vdi"
)

// Detect sniffs the image format from the first bytes. Anything unrecognised
// is raw, as QEMU assumes too.
func Detect(r io.ReaderAt) (Format, error) {
	var b [72]byte
	n, err := r.ReadAt(b[:], 0)
	if n < len(b) && err != nil && err != io.EOF {
		return "", err
	}
	h := b[:n]
	switch {
	case len(h) >= 4 && binary.BigEndian.Uint32(h) == Magic:
		return FormatQCOW2, nil
	case bytes.HasPrefix(h, []byte("KDMV")):
		return FormatVMDK, nil
	case bytes.HasPrefix(h, []byte("vhdxfile")):
		return FormatVHDX, nil
	case len(h) >= 68 && binary.LittleEndian.Uint32(h[64:]) == 0xbeda107f:
		return FormatVDI, nil
	}
	return FormatRaw, nil
}
