package gateway

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/internal/testenv"
)

// TestTLS serves the gateway over TLS from certificate files and runs a client over wss://.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := testenv.SelfSignedCert(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ic := startIC(t)
	gw := startGateway(t, ic, Config{})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	defer srv.Close()

	c := register(t, ic.agent(t), ic.echo)
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.DialContext(context.Background(), "wss://"+ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	c.ws = ws
	if err := ws.WriteMessage(websocket.BinaryMessage, c.firstMessage()); err != nil {
		t.Fatal(err)
	}
	if err := c.sendText("over TLS"); err != nil {
		t.Fatal(err)
	}
	if err := c.expect("over TLS"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String(), nil); err == nil || strings.Contains(err.Error(), "101") {
		t.Error("a plain ws:// connection to the TLS port succeeded")
	}
}
