// Package echo is the seed's demo canister on the icws WebSocket library: when a client opens,
// it sends {text: "ping"}; to every message {text} it replies {text: text + " ping"}. Payloads
// are protocol.AppMessage (S3).
package echo

import (
	"github.com/icws/icws/cdk"
	"github.com/icws/icws/cdk/websocket"
	"github.com/icws/icws/protocol"
)

// New returns the echo canister.
func New() *cdk.Canister {
	var s *websocket.Server
	send := func(ic cdk.System, client uint64, text string) {
		if err := s.Send(ic, client, protocol.AppMessage{Text: text}.Marshal()); err != nil {
			cdk.Trapf(ic, "echo: %v", err)
		}
	}
	s = websocket.New(websocket.Config{
		OnOpen: func(ic cdk.System, client uint64) { send(ic, client, "ping") },
		OnMessage: func(ic cdk.System, client uint64, payload []byte) {
			m, err := protocol.DecodeAppMessage(payload)
			if err != nil {
				cdk.Trapf(ic, "echo: client %d: %v", client, err)
			}
			send(ic, client, m.Text+" ping")
		},
	})
	c := &cdk.Canister{}
	s.Register(c)
	return c
}
