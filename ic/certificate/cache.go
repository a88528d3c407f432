package certificate

import "sync"

// boundedCache is a concurrency-safe map that holds at most max entries, evicting the oldest
// insertion first. Lookups do not reorder entries: the caches hold few, long-lived entries (one
// delegation per subnet, the certificates of the last few polls), for which FIFO is as good as LRU.
type boundedCache[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	m     map[K]V
	order []K // insertion order, for eviction
}

func newBoundedCache[K comparable, V any](max int) *boundedCache[K, V] {
	return &boundedCache[K, V]{max: max, m: make(map[K]V)}
}

func (c *boundedCache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *boundedCache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return
	}
	for len(c.m) >= c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[k] = v
	c.order = append(c.order, k)
}

func (c *boundedCache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
