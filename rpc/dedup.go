package rpc

import "sync"

// dupCache remembers the last n _unique_id values (amqp.py _MsgIdCache) to drop redelivered messages.
type dupCache struct {
	mu   sync.Mutex
	ring []string
	pos  int
	seen map[string]struct{}
}

func newDupCache(n int) *dupCache {
	return &dupCache{ring: make([]string, n), seen: make(map[string]struct{}, n)}
}

// check reports whether id was seen, and remembers it if not. Empty ids are never duplicates.
func (c *dupCache) check(id string) bool {
	if id == "" {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[id]; ok {
		return true
	}
	if old := c.ring[c.pos]; old != "" {
		delete(c.seen, old)
	}
	c.ring[c.pos] = id
	c.pos = (c.pos + 1) % len(c.ring)
	c.seen[id] = struct{}{}
	return false
}
