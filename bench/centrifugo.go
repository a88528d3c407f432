package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/icws/icws/bench/canister"
)

// Centrifugo (github.com/centrifugal/centrifugo) as a second bare baseline of the fan-out: the
// bench starts the binary at Options.Centrifugo on loopback with a generated configuration,
// every client subscribes to one channel over Centrifugo's JSON protocol on WebSocket, and each
// broadcast is one publication to that channel through the server HTTP API. It is not a Go
// dependency of icws: build it apart (docs/BENCHMARKS.md).

// centrifugoChannel is the channel every Centrifugo client subscribes to.
const centrifugoChannel = "bench"

// centrifugoAPIKey is the HTTP API key of the generated configuration (loopback only).
const centrifugoAPIKey = "icws-bench"

// centrifugoData is the data of a publication: the broadcast number, the send time (Unix ns) and
// padding up to the payload size.
type centrifugoData struct {
	N uint64 `json:"n"`
	T int64  `json:"t"`
	P string `json:"p,omitempty"`
}

// centrifugoTarget starts Centrifugo; clients subscribe to centrifugoChannel.
func centrifugoTarget(ctx context.Context, o *Options, clients int) (*fanoutTarget, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "icws-bench-centrifugo-")
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"http_api":    map[string]any{"key": centrifugoAPIKey},
		"client": map[string]any{
			"insecure":        true, // anonymous clients, any channel: a bare broadcast
			"allowed_origins": []string{"*"},
			"queue_max_size":  64 << 20,
		},
		"channel":     map[string]any{"without_namespace": map[string]any{"allow_subscribe_for_client": true}},
		"log":         map[string]any{"level": "error"},
		"usage_stats": map[string]any{"disabled": true},
		"health":      map[string]any{"enabled": true},
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(o.Centrifugo, "--config", path)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: start Centrifugo (%s): %w", o.Centrifugo, err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	stop := func() {
		_ = cmd.Process.Kill() // by its pid: the process the bench started
		<-waited
		os.RemoveAll(dir)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	hc := &http.Client{Timeout: 30 * time.Second}
	if err := waitHTTP(ctx, hc, base+"/health", waited); err != nil {
		stop()
		return nil, fmt.Errorf("bench: Centrifugo did not start: %w (output: %q)", err, strings.TrimSpace(stderr.String()))
	}
	src := newSources(o.sources(clients))
	wsURL := fmt.Sprintf("ws://127.0.0.1:%d/connection/websocket", port)
	var subscribed atomic.Int64
	var next uint64
	return &fanoutTarget{
		name:   "centrifugo",
		server: &server{role: "centrifugo", cmd: cmd, pid: cmd.Process.Pid},
		dial: func(ctx context.Context, _ int) (loadClient, error) {
			return dialCentrifugo(ctx, wsURL, src.dialer(), &subscribed)
		},
		broadcast: func(ctx context.Context, count, size int) (uint64, uint64, error) {
			first := next
			var cmds []map[string]any
			for i := 0; i < count; i++ {
				d := centrifugoData{N: next, T: time.Now().UnixNano()}
				if pad := size - 40; pad > 0 {
					d.P = strings.Repeat("x", pad)
				}
				cmds = append(cmds, map[string]any{"publish": map[string]any{"channel": centrifugoChannel, "data": d}})
				next++
			}
			body, _ := json.Marshal(map[string]any{"commands": cmds})
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/batch", bytes.NewReader(body))
			if err != nil {
				return 0, 0, err
			}
			req.Header.Set("X-API-Key", centrifugoAPIKey)
			req.Header.Set("Content-Type", "application/json")
			res, err := hc.Do(req)
			if err != nil {
				return 0, 0, fmt.Errorf("bench: Centrifugo publish: %w", err)
			}
			defer res.Body.Close()
			var reply struct {
				Replies []struct {
					Error *struct {
						Code    int    `json:"code"`
						Message string `json:"message"`
					} `json:"error"`
				} `json:"replies"`
			}
			if err := json.NewDecoder(res.Body).Decode(&reply); err != nil || res.StatusCode != http.StatusOK {
				return 0, 0, fmt.Errorf("bench: Centrifugo publish: status %s (%v)", res.Status, err)
			}
			for _, r := range reply.Replies {
				if r.Error != nil {
					return 0, 0, fmt.Errorf("bench: Centrifugo publish: error %d %s", r.Error.Code, r.Error.Message)
				}
			}
			return first, uint64(subscribed.Load()), nil
		},
		maxCount: 1000,
		stop: func() {
			hc.CloseIdleConnections()
			stop()
		},
	}, nil
}

// freePort returns a loopback TCP port free at the time of the call.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP waits (at most 30 s) until url answers 200, or the process ends (exited closed).
func waitHTTP(ctx context.Context, hc *http.Client, url string, exited <-chan struct{}) error {
	for range 300 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if res, err := hc.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the process exited")
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer 200 within 30 s", url)
}

// centrifugoClient is a minimal client of Centrifugo's JSON protocol: connect, subscribe to
// centrifugoChannel, then the channel's publications in order (answering the server's pings).
// Its first recv returns a Welcome payload once the subscription is confirmed; then each
// publication as a Broadcast payload of its number.
type centrifugoClient struct {
	ws         *websocket.Conn
	buf        []byte
	pending    [][]byte // JSON replies of the last frame not yet returned
	subscribed *atomic.Int64
	welcomed   bool
}

func dialCentrifugo(ctx context.Context, url string, d *websocket.Dialer, subscribed *atomic.Int64) (*centrifugoClient, error) {
	ws, _, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: open a WebSocket to Centrifugo at %s: %w", url, err)
	}
	hello := `{"id":1,"connect":{}}` + "\n" + `{"id":2,"subscribe":{"channel":"` + centrifugoChannel + `"}}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(hello)); err != nil {
		ws.Close()
		return nil, fmt.Errorf("bench: Centrifugo connect: %w", err)
	}
	return &centrifugoClient{ws: ws, subscribed: subscribed}, nil
}

// centrifugoReply is one reply or push of Centrifugo's JSON protocol, as far as the bench reads it.
type centrifugoReply struct {
	ID    uint32 `json:"id"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Subscribe *json.RawMessage `json:"subscribe"`
	Push      *struct {
		Channel string `json:"channel"`
		Pub     *struct {
			Data centrifugoData `json:"data"`
		} `json:"pub"`
	} `json:"push"`
}

func (c *centrifugoClient) recv(ctx context.Context) ([]byte, time.Duration, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.ws.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for range 1 << 20 {
		if len(c.pending) == 0 {
			p, err := readFrame(c.ws, &c.buf)
			if err != nil {
				if ctx.Err() != nil {
					return nil, 0, ctx.Err()
				}
				return nil, 0, fmt.Errorf("bench: Centrifugo: %w", err)
			}
			c.pending = bytes.Split(p, []byte("\n"))
		}
		line := bytes.TrimSpace(c.pending[0])
		c.pending = c.pending[1:]
		if len(line) == 0 {
			continue
		}
		if string(line) == "{}" { // the server's ping: answer it
			if err := c.ws.WriteMessage(websocket.TextMessage, []byte("{}")); err != nil {
				return nil, 0, fmt.Errorf("bench: Centrifugo pong: %w", err)
			}
			continue
		}
		var r centrifugoReply
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, 0, fmt.Errorf("bench: Centrifugo sent %q: %w", line, err)
		}
		switch {
		case r.Error != nil:
			return nil, 0, fmt.Errorf("bench: Centrifugo refused command %d: %d %s", r.ID, r.Error.Code, r.Error.Message)
		case r.ID == 2 && r.Subscribe != nil && !c.welcomed:
			c.welcomed = true
			c.subscribed.Add(1)
			return canister.AppendPayload(nil, canister.Welcome, 0, canister.HeaderSize), 0, nil
		case r.Push != nil && r.Push.Pub != nil && r.Push.Channel == centrifugoChannel:
			d := r.Push.Pub.Data
			return canister.AppendPayload(nil, canister.Broadcast, d.N, canister.HeaderSize), time.Since(time.Unix(0, d.T)), nil
		}
	}
	return nil, 0, errors.New("bench: Centrifugo: no publication in 1M replies")
}

func (c *centrifugoClient) send(context.Context, []byte) error {
	return errors.New("bench: the Centrifugo clients only receive")
}

func (c *centrifugoClient) close() {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = c.ws.Close()
}
