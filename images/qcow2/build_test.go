package qcow2

import (
	"encoding/binary"
	"testing"
)

// imageSpec describes a hand-built version 3 image: cluster 0 header, cluster
// 1 L1 table, cluster 2 the only L2 table, clusters 3.. the data clusters.
type imageSpec struct {
	clusterBits uint32
	size        uint64
	l2          map[int]uint64 // raw L2 entries by guest cluster index
	clusters    [][]byte       // data clusters appended from cluster 3
	mutate      func(b []byte) // edits the finished file
}

func buildImage(t testing.TB, s imageSpec) []byte {
	t.Helper()
	cs := 1 << s.clusterBits
	b := make([]byte, (3+len(s.clusters))*cs)
	be := binary.BigEndian
	be.PutUint32(b[0:], Magic)
	be.PutUint32(b[4:], 3)
	be.PutUint32(b[20:], s.clusterBits)
	be.PutUint64(b[24:], s.size)
	be.PutUint32(b[36:], 1) // l1_size
	be.PutUint64(b[40:], uint64(cs))
	be.PutUint64(b[48:], 0)
	be.PutUint32(b[96:], 4)    // refcount_order
	be.PutUint32(b[100:], 104) // header_length
	be.PutUint64(b[cs:], uint64(2*cs)|1<<63)
	for i, e := range s.l2 {
		be.PutUint64(b[2*cs+8*i:], e)
	}
	for i, c := range s.clusters {
		copy(b[(3+i)*cs:], c)
	}
	if s.mutate != nil {
		s.mutate(b)
	}
	return b
}

// hostCluster is the L2 entry of data cluster i of an imageSpec.
func hostCluster(bits uint32, i int) uint64 { return uint64(3+i)<<bits | 1<<63 }
