package agent

import (
	"context"
	"crypto/ed25519"
	"sync"
	"time"

	"github.com/icws/icws/ic/principal"
)

// subnetKeys are the Ed25519 keys of the nodes of one subnet, read from a verified certificate.
type subnetKeys struct {
	subnet principal.Principal
	nodes  map[principal.Principal]ed25519.PublicKey
}

// maxKeyEntries bounds the node key cache; a gateway talks to a handful of canisters.
const maxKeyEntries = 4096

// nodeKeyCache caches node keys per effective canister id. Concurrent requests for the same
// canister share one fetch, which runs in the goroutine of the first of them (no goroutine is
// started). A failed fetch is not cached.
type nodeKeyCache struct {
	mu      sync.Mutex
	entries map[principal.Principal]*keyEntry
}

// keyEntry is one cached or in-flight fetch. keys, err and expires are written once, before done
// is closed, and only read after.
type keyEntry struct {
	done    chan struct{}
	keys    *subnetKeys
	err     error
	expires time.Time
}

// get returns the node keys of ecid's subnet. A cached entry is used until it expires, unless it
// holds stale (the caller found the keys incomplete and wants a fresh read). fetch is called
// without the lock held.
func (c *nodeKeyCache) get(ctx context.Context, ecid principal.Principal, now func() time.Time, stale *subnetKeys,
	fetch func(context.Context) (*subnetKeys, error)) (*subnetKeys, error) {
	const maxAttempts = 3
	var lastErr error
	for range maxAttempts {
		c.mu.Lock()
		if c.entries == nil {
			c.entries = make(map[principal.Principal]*keyEntry)
		}
		e := c.entries[ecid]
		if e != nil && isClosed(e.done) && (e.err != nil || now().After(e.expires) || (stale != nil && e.keys == stale)) {
			delete(c.entries, ecid)
			e = nil
		}
		if e == nil {
			e = &keyEntry{done: make(chan struct{})}
			c.evictLocked(now())
			c.entries[ecid] = e
			c.mu.Unlock()
			keys, err := fetch(ctx)
			e.keys, e.err, e.expires = keys, err, now().Add(nodeKeyTTL)
			close(e.done)
			if err != nil {
				c.mu.Lock()
				if c.entries[ecid] == e {
					delete(c.entries, ecid)
				}
				c.mu.Unlock()
			}
			return keys, err
		}
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		if e.err == nil {
			return e.keys, nil
		}
		lastErr = e.err
		if !isContextErr(e.err) || ctx.Err() != nil {
			return nil, e.err
		}
		// The goroutine that fetched gave up (its context ended); fetch again with ours.
	}
	return nil, lastErr
}

// evictLocked makes room for one entry: it drops expired entries, then any finished ones.
func (c *nodeKeyCache) evictLocked(now time.Time) {
	if len(c.entries) < maxKeyEntries {
		return
	}
	for k, e := range c.entries {
		if isClosed(e.done) && now.After(e.expires) {
			delete(c.entries, k)
		}
	}
	for k, e := range c.entries {
		if len(c.entries) < maxKeyEntries {
			return
		}
		if isClosed(e.done) {
			delete(c.entries, k)
		}
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
