package gateway

import (
	"container/list"
	"sync"

	"github.com/icws/icws/ic/principal"
)

// clientRef names a client: a canister and the client id it gave out.
type clientRef struct {
	canister principal.Principal
	clientID uint64
}

// keyCache is a bounded least-recently-used cache of client public keys read with
// ws_get_client_key. A client id's key never changes while the client exists; entries are
// removed when the gateway closes the client (ws_close deletes it in the canister).
type keyCache struct {
	max int

	mu    sync.Mutex
	order *list.List // of *keyEntry, most recently used first
	byRef map[clientRef]*list.Element
}

type keyEntry struct {
	ref clientRef
	key []byte
}

func newKeyCache(max int) *keyCache {
	return &keyCache{max: max, order: list.New(), byRef: make(map[clientRef]*list.Element)}
}

func (c *keyCache) get(ref clientRef) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byRef[ref]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*keyEntry).key, true
}

func (c *keyCache) put(ref clientRef, key []byte) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byRef[ref]; ok {
		e.Value.(*keyEntry).key = key
		c.order.MoveToFront(e)
		return
	}
	c.byRef[ref] = c.order.PushFront(&keyEntry{ref: ref, key: key})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byRef, last.Value.(*keyEntry).ref)
	}
}

func (c *keyCache) remove(ref clientRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byRef[ref]; ok {
		c.order.Remove(e)
		delete(c.byRef, ref)
	}
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
