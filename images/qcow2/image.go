package qcow2

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Source is a readable disk of known size: a raw file or another *Image.
type Source interface {
	io.ReaderAt
	Size() int64
}

// BackingOpener opens the backing file an image names. format is the
// backing-format header extension ("qcow2", "raw" or empty). Returning an error
// wrapping ErrBackingRefused is how a caller says no.
type BackingOpener func(name, format string) (Source, error)

// Options tune Open.
type Options struct {
	// Backing resolves backing files. Nil refuses any image that has one.
	Backing BackingOpener
}

// Image is an open qcow2 image; it implements Source, so an Image can back
// another. ReadAt is safe for concurrent use.
type Image struct {
	r        io.ReaderAt
	fileSize uint64
	hdr      *Header
	l1       []uint64
	backing  Source

	clusterBits uint32
	cs          uint64 // cluster size
	l2Bits      uint32 // log2(entries per L2 table)
	entryBytes  uint64 // 8, or 16 with extended L2
	scBits      uint32 // log2(subcluster size) with extended L2

	mu    sync.Mutex
	l2    l2Cache
	zr    io.ReadCloser // reusable inflater
	cbuf  []byte        // compressed input
	dbuf  []byte        // last decompressed cluster
	dhost uint64        // L2 entry that dbuf holds (0: none)
}

// Open parses r (of fileSize bytes) as a qcow2 image.
func Open(r io.ReaderAt, fileSize int64, opts Options) (*Image, error) {
	if fileSize < 0 {
		return nil, corrupt("file", "negative size %d", fileSize)
	}
	h, err := readHeader(r, fileSize)
	if err != nil {
		return nil, err
	}
	img := &Image{r: r, fileSize: uint64(fileSize), hdr: h, clusterBits: h.ClusterBits, cs: h.ClusterSize(), entryBytes: 8}
	if h.ExtendedL2() {
		img.entryBytes = 16
		img.scBits = h.ClusterBits - 5 // 32 subclusters per cluster
	}
	img.l2Bits = h.ClusterBits - 3
	if img.entryBytes == 16 {
		img.l2Bits--
	}
	span := uint64(1) << (img.clusterBits + img.l2Bits) // bytes one L2 table maps
	need := (h.Size + span - 1) / span
	if uint64(h.L1Size) < need {
		return nil, corrupt("l1_size", "%d entries cannot map %d bytes (need %d)", h.L1Size, h.Size, need)
	}
	if uint64(h.L1Size)*8 > maxL1Bytes {
		return nil, corrupt("l1_size", "%d entries exceed the %d-byte limit", h.L1Size, maxL1Bytes)
	}
	if need > 0 {
		if h.L1TableOffset%img.cs != 0 {
			return nil, corrupt("l1_table_offset", "%#x is not cluster aligned", h.L1TableOffset)
		}
		if h.L1TableOffset > img.fileSize || need*8 > img.fileSize-h.L1TableOffset {
			return nil, corrupt("l1_table_offset", "table at %#x (%d entries) runs past the end of the file (%d bytes)", h.L1TableOffset, need, fileSize)
		}
		raw := make([]byte, need*8)
		if _, err := r.ReadAt(raw, int64(h.L1TableOffset)); err != nil {
			return nil, corrupt("l1_table_offset", "reading L1 table: %v", err)
		}
		img.l1 = make([]uint64, need)
		for i := range img.l1 {
			img.l1[i] = binary.BigEndian.Uint64(raw[i*8:])
		}
	}
	if h.BackingFile != "" {
		if opts.Backing == nil {
			return nil, &Error{Kind: ErrBackingRefused, Field: "backing file", Detail: fmt.Sprintf("image is an overlay of %q and no backing resolver was given", h.BackingFile)}
		}
		b, err := opts.Backing(h.BackingFile, h.BackingFormat)
		if err != nil {
			if errors.Is(err, ErrBackingRefused) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnsupported) {
				return nil, err
			}
			return nil, &Error{Kind: ErrBackingRefused, Field: "backing file", Detail: fmt.Sprintf("opening %q: %v", h.BackingFile, err)}
		}
		img.backing = b
	}
	return img, nil
}

// Header returns the parsed header.
func (img *Image) Header() Header { return *img.hdr }

// Size is the virtual disk size in bytes.
func (img *Image) Size() int64 { return int64(img.hdr.Size) }

// Backing returns the opened backing image, or nil.
func (img *Image) Backing() Source { return img.backing }

// Close closes the backing chain opened through Options.Backing (when it
// implements io.Closer). It does not close the ReaderAt given to Open.
func (img *Image) Close() error {
	if c, ok := img.backing.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

type kind uint8

const (
	kindUnallocated kind = iota // read from the backing file, or zeros
	kindZero
	kindData
	kindCompressed
)

// mapping describes guest bytes [off, off+n) which all share one kind; for
// kindData they are host-contiguous from host, for kindCompressed host is the
// L2 descriptor of the one cluster.
type mapping struct {
	kind kind
	host uint64
	n    uint64
}

// lookup maps off (< Size) and merges following clusters of the same L2 table
// when they continue the same run, so large reads turn into few syscalls.
func (img *Image) lookup(off uint64) (mapping, error) {
	span := uint64(1) << (img.clusterBits + img.l2Bits)
	l1i := off >> (img.clusterBits + img.l2Bits)
	spanEnd := (l1i + 1) * span
	if spanEnd > img.hdr.Size {
		spanEnd = img.hdr.Size
	}
	l1e := img.l1[l1i]
	l2off := l1e & offsetMask
	if l2off == 0 {
		return mapping{kind: kindUnallocated, n: spanEnd - off}, nil
	}
	if l2off%img.cs != 0 {
		return mapping{}, corrupt("L1 entry", "%d points to unaligned L2 table %#x", l1i, l2off)
	}
	tbl, err := img.l2.get(img, l2off)
	if err != nil {
		return mapping{}, err
	}
	idx := (off >> img.clusterBits) & (1<<img.l2Bits - 1)
	m, err := img.decode(tbl, idx, off)
	if err != nil || m.kind == kindCompressed {
		return m, err
	}
	// Extend across following clusters of the same table.
	for next := off + m.n; next < spanEnd && m.n < 64<<20; next = off + m.n {
		if next&(img.cs-1) != 0 {
			break // run stopped inside a cluster (subclusters differ)
		}
		nm, err := img.decode(tbl, (next>>img.clusterBits)&(1<<img.l2Bits-1), next)
		if err != nil || nm.kind != m.kind || (m.kind == kindData && nm.host != m.host+m.n) {
			break
		}
		m.n += nm.n
	}
	if off+m.n > img.hdr.Size {
		m.n = img.hdr.Size - off
	}
	return m, nil
}

// decode interprets L2 entry idx for guest offset off (within that cluster).
func (img *Image) decode(tbl []byte, idx, off uint64) (mapping, error) {
	in := off & (img.cs - 1)
	e := binary.BigEndian.Uint64(tbl[idx*img.entryBytes:])
	if e&l2CompressedFlag != 0 {
		if img.entryBytes == 16 && binary.BigEndian.Uint64(tbl[idx*16+8:]) != 0 {
			return mapping{}, corrupt("L2 entry", "compressed cluster at guest %#x has a subcluster bitmap", off-in)
		}
		return mapping{kind: kindCompressed, host: e, n: img.cs - in}, nil
	}
	host := e & offsetMask
	if host%img.cs != 0 {
		return mapping{}, corrupt("L2 entry", "data cluster for guest %#x at unaligned host offset %#x", off-in, host)
	}
	if img.entryBytes == 8 {
		if e&l2ZeroFlag != 0 {
			if img.hdr.Version < 3 {
				return mapping{}, corrupt("L2 entry", "zero cluster in a version 2 image at guest %#x", off-in)
			}
			return mapping{kind: kindZero, n: img.cs - in}, nil
		}
		if host == 0 {
			return mapping{kind: kindUnallocated, n: img.cs - in}, nil
		}
		return mapping{kind: kindData, host: host + in, n: img.cs - in}, nil
	}
	// Extended L2: bits 0-31 say "allocated", bits 32-63 "reads as zero".
	bm := binary.BigEndian.Uint64(tbl[idx*16+8:])
	alloc, zero := uint32(bm), uint32(bm>>32)
	if alloc&zero != 0 {
		return mapping{}, corrupt("L2 bitmap", "subclusters both allocated and zero at guest %#x", off-in)
	}
	if alloc != 0 && host == 0 {
		return mapping{}, corrupt("L2 bitmap", "allocated subclusters without a host cluster at guest %#x", off-in)
	}
	scs := uint64(1) << img.scBits
	state := func(i uint64) kind {
		switch {
		case alloc&(1<<i) != 0:
			return kindData
		case zero&(1<<i) != 0:
			return kindZero
		}
		return kindUnallocated
	}
	i := in >> img.scBits
	k := state(i)
	n := scs - in&(scs-1)
	for j := i + 1; j < 32 && state(j) == k; j++ {
		n += scs
	}
	m := mapping{kind: k, n: n}
	if k == kindData {
		m.host = host + in
	}
	return m, nil
}

// ReadAt reads guest bytes; reads past Size return io.EOF like a file.
func (img *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("qcow2: negative offset %d", off)
	}
	size := img.hdr.Size
	if uint64(off) >= size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var tail error
	if uint64(len(p)) > size-uint64(off) {
		p = p[:size-uint64(off)]
		tail = io.EOF
	}
	done := 0
	for done < len(p) {
		pos := uint64(off) + uint64(done)
		m, err := img.lookup(pos)
		if err != nil {
			return done, err
		}
		chunk := p[done:]
		if uint64(len(chunk)) > m.n {
			chunk = chunk[:m.n]
		}
		if err := img.readMapped(chunk, pos, m); err != nil {
			return done, err
		}
		done += len(chunk)
	}
	return done, tail
}

func (img *Image) readMapped(p []byte, pos uint64, m mapping) error {
	switch m.kind {
	case kindZero:
		clear(p)
	case kindUnallocated:
		return img.readBacking(p, pos)
	case kindData:
		return img.readHost(p, m.host)
	case kindCompressed:
		img.mu.Lock()
		defer img.mu.Unlock()
		c, err := img.decompress(m.host, pos&^(img.cs-1))
		if err != nil {
			return err
		}
		copy(p, c[pos&(img.cs-1):])
	}
	return nil
}

// readHost reads file bytes; a cluster that starts inside the file but whose
// tail lies past EOF reads as zeros there, as QEMU's file driver does.
func (img *Image) readHost(p []byte, host uint64) error {
	if host >= img.fileSize {
		return corrupt("L2 entry", "data at host offset %#x is past the end of the file (%d bytes)", host, img.fileSize)
	}
	avail := img.fileSize - host
	q := p
	if uint64(len(q)) > avail {
		q = q[:avail]
		clear(p[avail:])
	}
	n, err := img.r.ReadAt(q, int64(host))
	if n < len(q) {
		return fmt.Errorf("qcow2: reading host offset %#x: %w", host, err)
	}
	return nil
}

func (img *Image) readBacking(p []byte, pos uint64) error {
	if img.backing == nil {
		clear(p)
		return nil
	}
	bsize := uint64(max(img.backing.Size(), 0))
	if pos >= bsize {
		clear(p)
		return nil
	}
	q := p
	if uint64(len(q)) > bsize-pos {
		q = q[:bsize-pos]
		clear(p[len(q):])
	}
	n, err := img.backing.ReadAt(q, int64(pos))
	if n < len(q) {
		return fmt.Errorf("qcow2: reading backing file at %#x: %w", pos, err)
	}
	return nil
}

// decompress inflates the compressed cluster described by L2 entry e; callers
// hold img.mu. The result is valid until the next call.
func (img *Image) decompress(e, guest uint64) ([]byte, error) {
	if img.dbuf != nil && img.dhost == e {
		return img.dbuf, nil
	}
	shift := 62 - (img.clusterBits - 8)
	coff := e & (1<<shift - 1)
	nsec := (e>>shift)&(1<<(img.clusterBits-8)-1) + 1
	csize := nsec*512 - coff&511
	if coff >= img.fileSize {
		return nil, corrupt("L2 entry", "compressed cluster for guest %#x at %#x is past the end of the file", guest, coff)
	}
	if csize > img.fileSize-coff {
		csize = img.fileSize - coff // the last sector may be cut short by EOF
	}
	if uint64(cap(img.cbuf)) < csize {
		img.cbuf = make([]byte, csize)
	}
	in := img.cbuf[:csize]
	if n, err := img.r.ReadAt(in, int64(coff)); uint64(n) < csize {
		return nil, fmt.Errorf("qcow2: reading compressed cluster at %#x: %w", coff, err)
	}
	if img.dbuf == nil {
		img.dbuf = make([]byte, img.cs)
	}
	br := bytes.NewReader(in)
	if img.zr == nil {
		img.zr = flate.NewReader(br)
	} else if err := img.zr.(flate.Resetter).Reset(br, nil); err != nil {
		return nil, err
	}
	img.dhost = 0
	if _, err := io.ReadFull(img.zr, img.dbuf); err != nil {
		return nil, corrupt("compressed cluster", "guest %#x (host %#x, %d bytes): %v", guest, coff, csize, err)
	}
	img.dhost = e
	return img.dbuf, nil
}
