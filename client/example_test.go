package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/icws/icws/client"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/protocol"
)

// A client of the echo canister on a local replica (icws dev): it says hello, prints the verified
// answers, and moves to a second gateway when the first one misbehaves.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := client.Dial(ctx, client.Config{
		Gateway:      "ws://127.0.0.1:8080",
		IC:           "http://127.0.0.1:4943",
		FetchRootKey: true, // a local replica; leave it unset for mainnet
		Canister:     principal.MustDecode("bkyz2-fmaaa-aaaaa-qaaaq-cai"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close("bye")

	if err := conn.Send(ctx, protocol.AppMessage{Text: "hello"}.Marshal()); err != nil {
		log.Fatal(err)
	}
	for {
		msg, err := conn.Recv(ctx)
		var ve *client.VerifyError
		switch {
		case err == nil:
			text, _ := protocol.DecodeAppMessage(msg.Payload)
			fmt.Printf("[seq %d, %v] %s\n", msg.Seq, msg.Delay().Round(time.Millisecond), text.Text)
		case !client.IsFatal(err):
			log.Print(err) // a replay or another client's message: dropped, go on
		case errors.As(err, &ve):
			// Forged, lost, late or withheld: resume through another gateway.
			log.Print(err)
			if err := conn.Reconnect(ctx, "ws://127.0.0.1:8081"); err != nil {
				log.Fatal(err)
			}
		default:
			log.Fatal(err) // the gateway or the canister closed the connection, or ctx ended
		}
	}
}
