package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/client"
	"github.com/icws/icws/gateway"
	"github.com/icws/icws/protocol"
)

// TestOrigin connects with an Origin header, as a browser page would, to a real gateway with an
// empty allow-list (which refuses it with 4009 and a reason naming the origin and the flag) and
// to one that lists the origin (which serves it).
func TestOrigin(t *testing.T) {
	e := newEnv(t)
	const origin = "http://127.0.0.1:5173"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cfg := e.config(e.echo, e.gatewayWith(t, gateway.Config{}))
	cfg.Origin = origin
	c, err := client.Dial(ctx, cfg)
	if err == nil {
		_, err = c.Recv(ctx)
		_ = c.Close("")
	}
	var ce *client.CloseError
	wantReason := "origin " + origin + " is not allowed: start the gateway with --allowed-origins " + origin
	if !errors.As(err, &ce) || ce.Code != protocol.CloseOriginNotAllowed || ce.Reason != wantReason || ce.Reconnect() {
		t.Fatalf("refused origin: %v, want a *CloseError 4009 %q that says stop", err, wantReason)
	}
	if want := "client: gateway closed the connection: 4009 (origin not allowed): " + wantReason; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q\nwant %q", err, want)
	}

	cfg.Gateway = e.gatewayWith(t, gateway.Config{AllowedOrigins: []string{origin}})
	c = dial(t, ctx, cfg)
	m, err := c.Recv(ctx)
	if err != nil {
		t.Fatalf("allowed origin: %v", err)
	}
	if am, err := protocol.DecodeAppMessage(m.Payload); err != nil || am.Text != "ping" {
		t.Errorf("allowed origin: first message %q (%v), want the greeting", m.Payload, err)
	}
}

// TestDialNotAGateway points Dial at a web server that answers HTML (as icws dev's demo page
// does): the error wraps ErrNotGateway and does not carry the page.
func TestDialNotAGateway(t *testing.T) {
	e := newEnv(t)
	page := newHTMLServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, e.config(e.echo, "ws"+strings.TrimPrefix(page, "http")))
	if !errors.Is(err, client.ErrNotGateway) || strings.Contains(err.Error(), "<") || !strings.Contains(err.Error(), "200 OK with an HTML page") {
		t.Fatalf("Dial to a web page: %v, want ErrNotGateway without the page", err)
	}
}

// newHTMLServer serves an HTML page at every path and returns its http:// URL.
func newHTMLServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><title>a demo page</title><p>" + strings.Repeat("lorem ipsum ", 100)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
