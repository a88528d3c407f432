package replica_test

import (
	"context"
	"fmt"
	"log"

	"github.com/icws/icws/cdk"
	"github.com/icws/icws/replica"
)

// A canister that answers every call to "hello" with the Candid text "hi".
func newHello() *cdk.Canister {
	return &cdk.Canister{
		Queries: map[string]cdk.Method{
			"hello": func(ic cdk.System) { ic.Reply([]byte("DIDL\x00\x01\x71\x02hi")) },
		},
	}
}

func ExampleStart() {
	r, err := replica.Start(context.Background(), replica.Config{
		Canisters: []replica.CanisterSpec{{Name: "hello", New: newHello}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	id, _ := r.CanisterID("hello")
	fmt.Println("canister hello", id)
	fmt.Println("root key bytes:", len(r.RootKey()))
	// Agents now talk to r.URL(), trusting r.RootKey().
	// Output:
	// canister hello bkyz2-fmaaa-aaaaa-qaaaq-cai
	// root key bytes: 133
}
