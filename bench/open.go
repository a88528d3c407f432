package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/icws/icws/bench/canister"
)

// fleet is the load clients of one run: each has a goroutine that reads its welcome message and
// then whatever the scenario reads.
type fleet struct {
	clients []loadClient
	// openLatency[i] is how long client i took from the start of its dial to its welcome.
	openLatency []time.Duration
	opened      atomic.Int64
	openWG      sync.WaitGroup // done once per client at its welcome (or failure)
	readWG      sync.WaitGroup // done when each reader goroutine returns

	errOnce sync.Once
	err     error
	cancel  context.CancelCauseFunc // ends the run at the first failure
}

// dialFunc opens client i.
type dialFunc func(ctx context.Context, i int) (loadClient, error)

// readFunc is what client i reads after its welcome; it returns at the end of the run.
type readFunc func(ctx context.Context, i int, c loadClient) error

// newFleet returns a fleet of n clients; cancel ends the run at the first failure.
func newFleet(n int, cancel context.CancelCauseFunc) *fleet {
	return &fleet{clients: make([]loadClient, n), openLatency: make([]time.Duration, n), cancel: cancel}
}

// open opens the clients, `dialers` at a time, and starts their readers: each reads its welcome
// and then runs read. It returns once every client is open (has its welcome), or at the first
// failure.
func (f *fleet) open(ctx context.Context, dialers int, dial dialFunc, read readFunc) error {
	n := len(f.clients)
	f.openWG.Add(n)
	work := make(chan int)
	var dialWG sync.WaitGroup
	for range min(dialers, n) {
		dialWG.Add(1)
		go func() {
			defer dialWG.Done()
			for i := range work {
				start := time.Now()
				c, err := dial(ctx, i)
				if err != nil {
					f.fail(fmt.Errorf("open client %d: %w", i, err))
					f.openWG.Done()
					continue
				}
				f.clients[i] = c
				f.readWG.Add(1)
				go f.reader(ctx, i, c, start, read)
			}
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case work <- i:
		case <-ctx.Done():
			for ; i < n; i++ {
				f.openWG.Done()
			}
		}
	}
	close(work)
	dialWG.Wait()
	f.openWG.Wait()
	return context.Cause(ctx)
}

func (f *fleet) reader(ctx context.Context, i int, c loadClient, start time.Time, read readFunc) {
	defer f.readWG.Done()
	p, _, err := c.recv(ctx)
	if err == nil {
		var kind byte
		if kind, _, err = canister.ParsePayload(p); err == nil && kind != canister.Welcome {
			err = fmt.Errorf("first message of kind %q, want the welcome", kind)
		}
	}
	if err != nil {
		f.fail(fmt.Errorf("client %d: welcome: %w", i, err))
		f.openWG.Done()
		return
	}
	f.openLatency[i] = time.Since(start)
	f.opened.Add(1)
	f.openWG.Done()
	if read != nil {
		if err := read(ctx, i, c); err != nil && ctx.Err() == nil {
			f.fail(fmt.Errorf("client %d: %w", i, err))
		}
	}
}

// fail records the run's first failure and ends the run.
func (f *fleet) fail(err error) {
	f.errOnce.Do(func() {
		f.err = err
		f.cancel(err)
	})
}

// close closes every client, many at once, and waits for the readers (which the caller's
// context cancellation or the closed sockets end).
func (f *fleet) close() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, c := range f.clients {
		if c == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			c.close()
			<-sem
		}()
	}
	wg.Wait()
	f.readWG.Wait()
}
