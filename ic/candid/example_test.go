package candid_test

import (
	"fmt"

	"github.com/icws/icws/ic/candid"
)

// Message is a record: record { client_id : nat64; key : text; val : blob }.
type Message struct {
	ClientID uint64 `candid:"client_id"`
	Key      string `candid:"key"`
	Val      []byte `candid:"val"`
}

// Result is a variant: variant { Ok : nat64; Err : text }.
type Result struct {
	Ok  *uint64 `candid:"Ok,variant"`
	Err *string `candid:"Err,variant"`
}

func Example() {
	// Encode two arguments.
	data, err := candid.Marshal(Message{ClientID: 16, Key: "k", Val: []byte{1, 2}}, true)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", data)

	// Decode them again.
	var m Message
	var ok bool
	if err := candid.Unmarshal(data, &m, &ok); err != nil {
		panic(err)
	}
	fmt.Println(m.ClientID, m.Key, m.Val, ok)

	// A reader that knows only some of the fields, and no second argument, still decodes.
	var older struct {
		Key string `candid:"key"`
	}
	if err := candid.Unmarshal(data, &older); err != nil {
		panic(err)
	}
	fmt.Println(older.Key)

	// Variants: exactly one alternative is set.
	errText := "no such client"
	data, _ = candid.Marshal(Result{Err: &errText})
	var r Result
	if err := candid.Unmarshal(data, &r); err != nil {
		panic(err)
	}
	fmt.Println(r.Ok == nil, *r.Err)

	t, _ := candid.TypeOf(Result{})
	fmt.Println(t)
	// Output:
	// 4449444c026d7b6c039f93c60271e1bde702008fd197c00c7802017e016b020102100000000000000001
	// 16 k [1 2] true
	// k
	// true no such client
	// variant { Ok : nat64; Err : text }
}

// Decoding without Go types: the wire types and generic values of a message.
func ExampleDecode() {
	data, _ := candid.Marshal("hello", candid.NatOf(300))
	types, values, err := candid.Decode(data)
	if err != nil {
		panic(err)
	}
	for i := range types {
		fmt.Printf("%s = %v\n", types[i], values[i])
	}
	// Output:
	// text = hello
	// nat = 300
}
