package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress writes a status line while a scenario runs: rewritten in place on a terminal, one
// line every few seconds otherwise.
type progress struct {
	w      io.Writer
	tty    bool
	mu     sync.Mutex
	status func() string // guarded by mu
	stop   chan struct{}
	done   chan struct{}
}

func startProgress(w io.Writer) *progress {
	p := &progress{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	if w == nil {
		close(p.done)
		return p
	}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	every := 5 * time.Second
	if p.tty {
		every = 250 * time.Millisecond
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				p.print(true)
				return
			case <-t.C:
				p.print(false)
			}
		}
	}()
	return p
}

// set replaces the status function.
func (p *progress) set(status func() string) {
	p.mu.Lock()
	p.status = status
	p.mu.Unlock()
}

func (p *progress) print(final bool) {
	p.mu.Lock()
	status := p.status
	p.mu.Unlock()
	if status == nil {
		return
	}
	s := status()
	switch {
	case p.tty && final:
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", s)
	case p.tty:
		fmt.Fprintf(p.w, "\r%s\x1b[K", s)
	default:
		fmt.Fprintln(p.w, s)
	}
}

// end prints the last status and stops.
func (p *progress) end() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}
