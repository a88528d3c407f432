package agent

import (
	"context"
	"fmt"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
)

// Args is a Candid argument list of several values, for methods that take more than one argument
// (or none: Args{}). A value that is not an Args is one argument.
type Args []any

// Call makes an update call of method on canister with Candid arguments and decodes the reply
// into results. arg is the method's one argument (any Go value package candid encodes), an Args
// for several or none, or nil for none. results are pointers, one per value of the reply, in
// order; extra reply values are ignored, as Candid subtyping allows. With no results the reply is
// not decoded.
//
//	var reply WsRegisterResult
//	err := a.Call(ctx, canister, "ws_register", WsRegisterArgs{ClientNonce: 7}, &reply)
//
// Errors are those of CallRaw, or a Candid encoding or decoding error.
func (a *Agent) Call(ctx context.Context, canister principal.Principal, method string, arg any, results ...any) error {
	in, err := encodeArgs(method, arg)
	if err != nil {
		return err
	}
	out, err := a.CallRaw(ctx, canister, method, in)
	if err != nil {
		return err
	}
	return decodeResults(method, out, results)
}

// Query calls the query method of canister with Candid arguments and decodes the reply, with the
// conventions of Call and the checks of QueryRaw.
func (a *Agent) Query(ctx context.Context, canister principal.Principal, method string, arg any, results ...any) error {
	in, err := encodeArgs(method, arg)
	if err != nil {
		return err
	}
	out, err := a.QueryRaw(ctx, canister, method, in)
	if err != nil {
		return err
	}
	return decodeResults(method, out, results)
}

func encodeArgs(method string, arg any) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	switch v := arg.(type) {
	case nil:
		b, err = candid.Marshal()
	case Args:
		b, err = candid.Marshal(v...)
	default:
		b, err = candid.Marshal(v)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: encoding the arguments of %s: %w", method, err)
	}
	return b, nil
}

func decodeResults(method string, reply []byte, results []any) error {
	if len(results) == 0 {
		return nil
	}
	if err := candid.Unmarshal(reply, results...); err != nil {
		return fmt.Errorf("agent: decoding the reply of %s: %w", method, err)
	}
	return nil
}
