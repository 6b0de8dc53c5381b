package qcow2

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func TestHandBuiltImage(t *testing.T) {
	const bits = 12
	data := bytes.Repeat([]byte{0xcd}, 1<<bits)
	var cbuf bytes.Buffer
	zw, _ := flate.NewWriter(&cbuf, flate.BestCompression)
	zw.Write(bytes.Repeat([]byte("zz"), 1<<(bits-1)))
	zw.Close()
	// Compressed descriptor: offset of cluster 4, sector count - 1 above bit 62-(bits-8).
	coff := uint64(4 << bits)
	nsec := (uint64(cbuf.Len())+511)/512 - 1
	comp := coff | nsec<<(62-(bits-8)) | 1<<62
	img := buildImage(t, imageSpec{clusterBits: bits, size: 5 << bits,
		l2:       map[int]uint64{0: hostCluster(bits, 0), 1: 1, 3: comp},
		clusters: [][]byte{data, cbuf.Bytes()},
	})
	im, err := Open(bytes.NewReader(img), int64(len(img)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5<<bits)
	if _, err := im.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	want := append(append(append(append(append([]byte{}, data...), make([]byte, 1<<bits)...), make([]byte, 1<<bits)...), bytes.Repeat([]byte("zz"), 1<<(bits-1))...), make([]byte, 1<<bits)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("guest bytes differ at %d", firstDiff(got, want))
	}
}

func TestCorruptImages(t *testing.T) {
	const bits = 16
	cs := 1 << bits
	be := binary.BigEndian
	set32 := func(off int, v uint32) func([]byte) { return func(b []byte) { be.PutUint32(b[off:], v) } }
	set64 := func(off int, v uint64) func([]byte) { return func(b []byte) { be.PutUint64(b[off:], v) } }
	cases := []struct {
		name   string
		spec   imageSpec
		trunc  int // keep only this many bytes when > 0
		want   error
		atRead bool // error only when reading, not at Open
	}{
		{name: "bad magic", spec: imageSpec{mutate: set32(0, 0x12345678)}, want: ErrNotQCOW2},
		{name: "version 1", spec: imageSpec{mutate: set32(4, 1)}, want: ErrUnsupported},
		{name: "version 4", spec: imageSpec{mutate: set32(4, 4)}, want: ErrUnsupported},
		{name: "cluster_bits 8", spec: imageSpec{mutate: set32(20, 8)}, want: ErrCorrupt},
		{name: "cluster_bits 40", spec: imageSpec{mutate: set32(20, 40)}, want: ErrCorrupt},
		{name: "absurd size", spec: imageSpec{mutate: set64(24, 1<<62)}, want: ErrCorrupt},
		{name: "l1 too small", spec: imageSpec{mutate: set64(24, 1<<40)}, want: ErrCorrupt},
		{name: "l1 too large", spec: imageSpec{mutate: set32(36, 1<<30)}, want: ErrCorrupt},
		{name: "l1 past EOF", spec: imageSpec{mutate: set64(40, 1<<40)}, want: ErrCorrupt},
		{name: "l1 unaligned", spec: imageSpec{mutate: set64(40, 4096)}, want: ErrCorrupt},
		{name: "encrypted", spec: imageSpec{mutate: set32(32, 1)}, want: ErrUnsupported},
		{name: "unknown incompatible bit", spec: imageSpec{mutate: set64(72, 1<<40)}, want: ErrUnsupported},
		{name: "corrupt bit", spec: imageSpec{mutate: set64(72, incompatCorrupt)}, want: ErrCorrupt},
		{name: "external data file", spec: imageSpec{mutate: set64(72, incompatExternalData)}, want: ErrUnsupported},
		{name: "zstd", spec: imageSpec{mutate: func(b []byte) {
			be.PutUint64(b[72:], incompatCompression)
			be.PutUint32(b[100:], 112)
			b[104] = 1
		}}, want: ErrUnsupported},
		{name: "header_length odd", spec: imageSpec{mutate: set32(100, 105)}, want: ErrCorrupt},
		{name: "backing name outside first cluster", spec: imageSpec{mutate: func(b []byte) {
			be.PutUint64(b[8:], uint64(cs)-4)
			be.PutUint32(b[16:], 100)
		}}, want: ErrCorrupt},
		{name: "backing without resolver", spec: imageSpec{mutate: func(b []byte) {
			be.PutUint64(b[8:], 512)
			be.PutUint32(b[16:], 4)
			copy(b[512:], "base")
		}}, want: ErrBackingRefused},
		{name: "extension runs past cluster", spec: imageSpec{mutate: func(b []byte) {
			be.PutUint32(b[104:], extBackingFmt)
			be.PutUint32(b[108:], 1<<30)
		}}, want: ErrCorrupt},
		{name: "encryption extension", spec: imageSpec{mutate: func(b []byte) {
			be.PutUint32(b[104:], extEncryption)
			be.PutUint32(b[108:], 16)
		}}, want: ErrUnsupported},
		{name: "truncated header", spec: imageSpec{}, trunc: 80, want: ErrCorrupt},
		{name: "tiny file", spec: imageSpec{}, trunc: 3, want: ErrNotQCOW2},
		{name: "L2 table past EOF", spec: imageSpec{mutate: set64(cs, 1<<40)}, want: ErrCorrupt, atRead: true},
		{name: "L2 table unaligned", spec: imageSpec{mutate: set64(cs, 3*uint64(cs)+512)}, want: ErrCorrupt, atRead: true},
		{name: "data past EOF", spec: imageSpec{l2: map[int]uint64{0: 1 << 40}}, want: ErrCorrupt, atRead: true},
		{name: "data unaligned", spec: imageSpec{l2: map[int]uint64{0: 3<<bits + 512}}, want: ErrCorrupt, atRead: true},
		{name: "compressed past EOF", spec: imageSpec{l2: map[int]uint64{0: 1<<62 | 1<<40}}, want: ErrCorrupt, atRead: true},
		{name: "compressed garbage", spec: imageSpec{l2: map[int]uint64{0: 1<<62 | 3<<bits}, clusters: [][]byte{bytes.Repeat([]byte{0xff}, 512)}}, want: ErrCorrupt, atRead: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.spec
			s.clusterBits, s.size = bits, 4<<bits
			b := buildImage(t, s)
			if tc.trunc > 0 {
				b = b[:tc.trunc]
			}
			im, err := Open(bytes.NewReader(b), int64(len(b)), Options{})
			if err == nil && tc.atRead {
				_, err = im.ReadAt(make([]byte, 4<<bits), 0)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var qe *Error
			if !errors.As(err, &qe) || qe.Field == "" {
				t.Fatalf("err %v is not an *Error naming the field", err)
			}
		})
	}
}

// FuzzOpenRead: any byte string either fails with an error or reads; never
// panics, and allocations stay bounded by the file size (checked by the
// fuzzer's memory limit).
func FuzzOpenRead(f *testing.F) {
	const bits = 12
	var cbuf bytes.Buffer
	zw, _ := flate.NewWriter(&cbuf, 5)
	zw.Write(bytes.Repeat([]byte("seed"), 1024))
	zw.Close()
	f.Add(buildImage(f, imageSpec{clusterBits: bits, size: 6 << bits,
		l2:       map[int]uint64{0: hostCluster(bits, 0), 1: 1, 2: 1<<62 | 4<<bits},
		clusters: [][]byte{bytes.Repeat([]byte{7}, 1<<bits), cbuf.Bytes()}}))
	f.Add(buildImage(f, imageSpec{clusterBits: 9, size: 1 << 20}))
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := Open(bytes.NewReader(b), int64(len(b)), Options{})
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("Open error %v is not an *Error", err)
			}
			return
		}
		p := make([]byte, 64<<10)
		for _, off := range []int64{0, im.Size() / 2, im.Size() - 1} {
			if off < 0 {
				continue
			}
			if _, err := im.ReadAt(p, off); err != nil && err != io.EOF {
				var qe *Error
				if !errors.As(err, &qe) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("ReadAt error %v is neither *Error nor EOF", err)
				}
			}
		}
	})
}
