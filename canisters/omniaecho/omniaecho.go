// Package omniaecho is the example canister of the production IC WebSocket protocol (Omnia's,
// package protocol/omnia): a drop-in for an ic-websocket-cdk 0.4 echo canister, for
// ic-websocket-js 0.5 clients. Its application message is AppMessage, Candid `record { text :
// text; timestamp : nat64 }` (the type of Omnia's examples); it sends each message's text back to
// its sender, with the canister's time.
package omniaecho

import (
	"fmt"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/cdk/websocket"
	"github.com/icws/icws/ic/candid"
)

// AppMessageCandid is the Candid type of AppMessage, published in the canister's interface.
const AppMessageCandid = "record { text : text; timestamp : nat64 }"

// AppMessage is the application message both ways.
type AppMessage struct {
	// Text is the message.
	Text string `candid:"text"`
	// Timestamp is the sender's time in nanoseconds.
	Timestamp uint64 `candid:"timestamp"`
}

// New returns the canister.
func New() *cdk.Canister {
	var s *websocket.Server
	s = websocket.New(websocket.Config{
		Protocol:   websocket.ProtocolOmnia,
		AppMessage: AppMessageCandid,
		OnMessage: func(ic cdk.System, client uint64, payload []byte) {
			var m AppMessage
			if err := candid.Unmarshal(payload, &m); err != nil {
				// Not the application's type: say so in the log and drop it, as ic-websocket-cdk
				// applications do, instead of trapping the client's sequence number away.
				ic.Print(fmt.Sprintf("omniaecho: client %d sent a message that is not an AppMessage: %v", client, err))
				return
			}
			b, err := candid.Marshal(AppMessage{Text: m.Text, Timestamp: ic.Time()})
			if err != nil {
				cdk.Trapf(ic, "omniaecho: %v", err)
			}
			if err := s.Send(ic, client, b); err != nil {
				cdk.Trapf(ic, "omniaecho: %v", err)
			}
		},
	})
	c := &cdk.Canister{}
	s.Register(c)
	return c
}
