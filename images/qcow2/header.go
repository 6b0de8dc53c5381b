package qcow2

import (
	"encoding/binary"
	"io"
)

// Magic is the first four bytes of every qcow image ("QFI\xfb").
const Magic = 0x514649fb

// Limits that keep a hostile header from driving allocations or arithmetic
// overflow. They match or are looser than QEMU's own.
const (
	minClusterBits   = 9
	maxClusterBits   = 21
	maxL1Bytes       = 32 << 20 // QEMU's QCOW_MAX_L1_SIZE
	maxBackingName   = 1023
	maxVirtualSize   = 1 << 60
	v2HeaderLength   = 72
	v3MinHeaderLen   = 104
	maxBackingDepth  = 32
	offsetMask       = 0x00fffffffffffe00 // bits 9-55 of L1 and L2 entries
	l2CompressedFlag = 1 << 62
	l2ZeroFlag       = 1
)

// Incompatible feature bits (qcow2 v3).
const (
	incompatDirty        = 1 << 0
	incompatCorrupt      = 1 << 1
	incompatExternalData = 1 << 2
	incompatCompression  = 1 << 3
	incompatExtendedL2   = 1 << 4
	incompatKnown        = incompatDirty | incompatCorrupt | incompatExternalData | incompatCompression | incompatExtendedL2
)

// Header extension types.
const (
	extEnd          = 0x00000000
	extBackingFmt   = 0xe2792aca
	extFeatureNames = 0x6803f857
	extBitmaps      = 0x23852875
	extEncryption   = 0x0537be77
	extDataFile     = 0x44415441
)

// Header is the parsed, validated qcow2 header.
type Header struct {
	Version               uint32
	ClusterBits           uint32
	Size                  uint64 // virtual disk size in bytes
	CryptMethod           uint32
	L1Size                uint32
	L1TableOffset         uint64
	IncompatibleFeatures  uint64
	CompatibleFeatures    uint64
	AutoclearFeatures     uint64
	RefcountOrder         uint32
	HeaderLength          uint32
	CompressionType       uint8
	BackingFile           string // empty when the image stands alone
	BackingFormat         string // from the backing-format extension, may be empty
	ExternalDataFileName  string
	NbSnapshots           uint32
	RefcountTableOffset   uint64
	RefcountTableClusters uint32
}

// ClusterSize is 1<<ClusterBits.
func (h *Header) ClusterSize() uint64 { return 1 << h.ClusterBits }

// ExtendedL2 reports whether L2 entries carry subcluster bitmaps.
func (h *Header) ExtendedL2() bool { return h.IncompatibleFeatures&incompatExtendedL2 != 0 }

// readHeader parses and validates the header and its extensions. fileSize
// bounds every offset read from the header.
func readHeader(r io.ReaderAt, fileSize int64) (*Header, error) {
	var fixed [112]byte
	n, err := r.ReadAt(fixed[:], 0)
	if n < v2HeaderLength {
		if n >= 4 && binary.BigEndian.Uint32(fixed[:4]) != Magic || n < 4 {
			return nil, &Error{Kind: ErrNotQCOW2, Field: "magic", Detail: "file shorter than a qcow2 header"}
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, corrupt("header", "truncated after %d bytes: %v", n, err)
	}
	be := binary.BigEndian
	if m := be.Uint32(fixed[0:]); m != Magic {
		return nil, &Error{Kind: ErrNotQCOW2, Field: "magic", Detail: "first bytes are not QFI\\xfb"}
	}
	h := &Header{
		Version:               be.Uint32(fixed[4:]),
		ClusterBits:           be.Uint32(fixed[20:]),
		Size:                  be.Uint64(fixed[24:]),
		CryptMethod:           be.Uint32(fixed[32:]),
		L1Size:                be.Uint32(fixed[36:]),
		L1TableOffset:         be.Uint64(fixed[40:]),
		RefcountTableOffset:   be.Uint64(fixed[48:]),
		RefcountTableClusters: be.Uint32(fixed[56:]),
		NbSnapshots:           be.Uint32(fixed[60:]),
		HeaderLength:          v2HeaderLength,
		RefcountOrder:         4,
	}
	backingOff := be.Uint64(fixed[8:])
	backingLen := be.Uint32(fixed[16:])

	switch h.Version {
	case 2:
	case 3:
		if n < v3MinHeaderLen {
			return nil, corrupt("header", "version 3 header truncated after %d bytes", n)
		}
		h.IncompatibleFeatures = be.Uint64(fixed[72:])
		h.CompatibleFeatures = be.Uint64(fixed[80:])
		h.AutoclearFeatures = be.Uint64(fixed[88:])
		h.RefcountOrder = be.Uint32(fixed[96:])
		h.HeaderLength = be.Uint32(fixed[100:])
		if h.HeaderLength < v3MinHeaderLen || h.HeaderLength%8 != 0 {
			return nil, corrupt("header_length", "%d is below 104 or not a multiple of 8", h.HeaderLength)
		}
		if h.HeaderLength > v3MinHeaderLen {
			if n <= v3MinHeaderLen {
				return nil, corrupt("header", "header_length %d but file ends at %d", h.HeaderLength, n)
			}
			h.CompressionType = fixed[104]
		}
	case 1:
		return nil, unsupported("version", "qcow version 1 is obsolete; convert it with qemu-img first")
	default:
		return nil, unsupported("version", "%d (supported: 2, 3)", h.Version)
	}

	if h.ClusterBits < minClusterBits || h.ClusterBits > maxClusterBits {
		return nil, corrupt("cluster_bits", "%d is outside %d..%d", h.ClusterBits, minClusterBits, maxClusterBits)
	}
	cs := h.ClusterSize()
	if uint64(h.HeaderLength) > cs {
		return nil, corrupt("header_length", "%d exceeds the cluster size %d", h.HeaderLength, cs)
	}
	if h.RefcountOrder > 6 {
		return nil, corrupt("refcount_order", "%d exceeds 6", h.RefcountOrder)
	}
	if h.Size > maxVirtualSize {
		return nil, corrupt("size", "virtual size %d exceeds %d", h.Size, uint64(maxVirtualSize))
	}
	if h.CryptMethod != 0 {
		return nil, unsupported("crypt_method", "encrypted images (method %d) are refused", h.CryptMethod)
	}
	if err := h.checkFeatures(); err != nil {
		return nil, err
	}
	if h.ExtendedL2() && h.ClusterBits < 14 {
		return nil, corrupt("cluster_bits", "extended L2 entries need clusters of at least 16 KiB, got %d bytes", cs)
	}

	// Extensions live between the fixed header and the backing file name
	// (or the end of the first cluster), as QEMU reads them.
	extEnd := cs
	if backingOff != 0 {
		if backingOff > cs || backingLen > maxBackingName || backingOff+uint64(backingLen) > cs {
			return nil, corrupt("backing_file_offset", "name at %d+%d lies outside the first cluster or exceeds %d bytes", backingOff, backingLen, maxBackingName)
		}
		extEnd = backingOff
	}
	if uint64(fileSize) < extEnd {
		extEnd = uint64(fileSize)
	}
	if err := h.readExtensions(r, uint64(h.HeaderLength), extEnd); err != nil {
		return nil, err
	}
	if backingOff != 0 && backingLen > 0 {
		name := make([]byte, backingLen)
		if _, err := r.ReadAt(name, int64(backingOff)); err != nil {
			return nil, corrupt("backing_file_offset", "reading name at %d: %v", backingOff, err)
		}
		h.BackingFile = string(name)
	}
	if h.ExternalDataFileName != "" || h.IncompatibleFeatures&incompatExternalData != 0 {
		return nil, unsupported("external data file", "images whose data lives in %q are refused", h.ExternalDataFileName)
	}
	return h, nil
}

func (h *Header) checkFeatures() error {
	f := h.IncompatibleFeatures
	if unknown := f &^ incompatKnown; unknown != 0 {
		return unsupported("incompatible_features", "unknown bits %#x", unknown)
	}
	if f&incompatCorrupt != 0 {
		return corrupt("incompatible_features", "QEMU marked the image corrupt; repair it with qemu-img check -r all")
	}
	if f&incompatExternalData != 0 {
		return unsupported("external data file", "images with an external data file are refused")
	}
	if f&incompatCompression != 0 || h.CompressionType != 0 {
		switch h.CompressionType {
		case 0:
		case 1:
			return unsupported("compression_type", "zstd-compressed clusters are not supported (only zlib/deflate)")
		default:
			return corrupt("compression_type", "unknown compression type %d", h.CompressionType)
		}
	}
	return nil
}

func (h *Header) readExtensions(r io.ReaderAt, off, end uint64) error {
	be := binary.BigEndian
	for off+8 <= end {
		var th [8]byte
		if _, err := r.ReadAt(th[:], int64(off)); err != nil {
			return corrupt("header extension", "reading at %d: %v", off, err)
		}
		typ, length := be.Uint32(th[0:]), be.Uint32(th[4:])
		off += 8
		if typ == extEnd {
			return nil
		}
		if uint64(length) > end-off {
			return corrupt("header extension", "type %#x length %d runs past offset %d", typ, length, end)
		}
		switch typ {
		case extBackingFmt, extDataFile:
			buf := make([]byte, length)
			if _, err := r.ReadAt(buf, int64(off)); err != nil {
				return corrupt("header extension", "type %#x: %v", typ, err)
			}
			if typ == extBackingFmt {
				h.BackingFormat = string(buf)
			} else {
				h.ExternalDataFileName = string(buf)
			}
		case extEncryption:
			return unsupported("header extension", "full disk encryption header present")
		case extFeatureNames, extBitmaps:
			// Informational for readers: bitmaps are an autoclear feature and
			// feature names only label bits we already check.
		}
		off += (uint64(length) + 7) &^ 7
	}
	return nil
}
