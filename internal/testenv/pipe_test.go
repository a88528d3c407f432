package testenv

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestHandlerTransport serves requests with a handler, in and out of a SetDown outage.
func TestHandlerTransport(t *testing.T) {
	tr := &HandlerTransport{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Path", r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
		w.Write(append([]byte(r.Method+" "), b...))
	})}
	c := &http.Client{Transport: tr}
	tests := []struct {
		name string
		down bool
		want string // the body; "" means the request fails with ErrHandlerDown
	}{
		{"up", false, "POST hello"},
		{"down", true, ""},
		{"up again", false, "POST hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr.SetDown(tt.down)
			res, err := c.Post("http://x.test/a/b", "text/plain", strings.NewReader("hello"))
			if tt.want == "" {
				if !errors.Is(err, ErrHandlerDown) {
					t.Fatalf("down: %v, want ErrHandlerDown", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusTeapot || string(b) != tt.want || res.Header.Get("X-Path") != "/a/b" {
				t.Fatalf("got %d %q (path %q), want 418 %q /a/b", res.StatusCode, b, res.Header.Get("X-Path"), tt.want)
			}
		})
	}
}

// TestPipeListener connects through the listener in a bubble (a read on a pipe is durably
// blocked, so a read deadline passes in fake time) and refuses dials once closed.
func TestPipeListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewPipeListener()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err == nil {
				accepted <- c
			}
			close(accepted)
		}()
		c, err := l.Dial(context.Background(), "tcp", "anything:80")
		if err != nil {
			t.Fatal(err)
		}
		s := <-accepted
		go s.Write([]byte("hi"))
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
			t.Fatalf("read %q, %v", buf, err)
		}
		start := time.Now()
		c.SetReadDeadline(start.Add(time.Hour))
		var ne net.Error
		if _, err := c.Read(buf); !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) != time.Hour {
			t.Fatalf("read past its deadline: %v after %v, want a timeout after 1h", err, time.Since(start))
		}
		c.Close()
		s.Close()
		l.Close()
		if _, err := l.Dial(context.Background(), "tcp", "x:1"); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Dial after Close: %v, want net.ErrClosed", err)
		}
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	})
}
