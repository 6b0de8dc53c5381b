package qcow2

import "sync"

// l2Slots bounds the cache: at most l2Slots clusters (2 MiB each at worst).
const l2Slots = 16

// l2Cache keeps recently used L2 tables; sequential conversion touches one
// table at a time, random reads a few.
type l2Cache struct {
	mu   sync.Mutex
	offs [l2Slots]uint64
	tbls [l2Slots][]byte
	next int
}

func (c *l2Cache) get(img *Image, off uint64) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, o := range c.offs {
		if o == off && c.tbls[i] != nil {
			return c.tbls[i], nil
		}
	}
	if off >= img.fileSize || img.cs > img.fileSize-off {
		return nil, corrupt("L1 entry", "L2 table at %#x runs past the end of the file (%d bytes)", off, img.fileSize)
	}
	slot := c.next
	c.next = (c.next + 1) % l2Slots
	// A fresh buffer, not the evicted one: a concurrent reader may still hold it.
	buf := make([]byte, img.cs)
	c.offs[slot], c.tbls[slot] = 0, nil
	if n, err := img.r.ReadAt(buf, int64(off)); uint64(n) < img.cs {
		return nil, corrupt("L1 entry", "reading L2 table at %#x: %v", off, err)
	}
	c.offs[slot], c.tbls[slot] = off, buf
	return buf, nil
}
