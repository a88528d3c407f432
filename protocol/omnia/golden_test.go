package omnia

import (
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/icws/icws/ic/candid"
	"github.com/icws/icws/ic/principal"
)

// The golden values: a 29-byte self-authenticating-shaped client and gateway, the client nonce
// the real ic-websocket-js drew in real-ic.md §3.4, and an application message of the type of
// Omnia's examples, record { text = "ping"; timestamp = 1796423100000000000 }.
const (
	goldenClientHex  = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c02"
	goldenGatewayHex = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babb02"
	goldenClientText = "im7ks-pqbai-bqibi-ga4ea-scqlb-qgq4d-yqcej-bgfav-cylrq-gi2dm-oae"
	goldenNonce      = 18348328367289883422
	goldenTimestamp  = 1796423100000000000
	goldenAppHex     = "4449444c016c02ad99e7e70471d6a9bbae0a7801000470696e670058cea54a2dee18"
)

// goldenCBORHex is goldenMessage() as ic-websocket-cdk 0.4 writes it with serde_cbor.
const goldenCBORHex = "d9d9f7" + // self-describe tag
	"a5" + // map of 5
	"6a" + "636c69656e745f6b6579" + // "client_key"
	/**/ "a2" + // map of 2
	/**/ "70" + "636c69656e745f7072696e636970616c" + "581d" + goldenClientHex + // "client_principal": bytes(29)
	/**/ "6c" + "636c69656e745f6e6f6e6365" + "1bfea25b6fba895b1e" + // "client_nonce": uint64
	"6c" + "73657175656e63655f6e756d" + "01" + // "sequence_num": 1
	"69" + "74696d657374616d70" + "1b18ee2d4aa5ce5800" + // "timestamp": uint64
	"72" + "69735f736572766963655f6d657373616765" + "f4" + // "is_service_message": false
	"67" + "636f6e74656e74" + "5822" + goldenAppHex // "content": bytes(34)

// goldenAgentCBORHex is the same message as @dfinity/agent's Cbor.encode writes it (other key
// order); decoders must take it too.
const goldenAgentCBORHex = "d9d9f7a567636f6e74656e745822" + goldenAppHex + "7269735f736572766963655f6d657373616765f46974696d657374616d701b18ee2d4aa5ce58006c73657175656e63655f6e756d016a636c69656e745f6b6579a26c636c69656e745f6e6f6e63651bfea25b6fba895b1e70636c69656e745f7072696e636970616c581d" + goldenClientHex

// goldenCandid holds the Candid goldens, each as @dfinity/candid 3.4 encodes it with the types of
// ic-websocket-js 0.5 / ws_types.did (testdata/idl.mjs prints them; TestIDLAgrees re-runs it).
var goldenCandid = map[string]string{
	"app":                           goldenAppHex,
	"open":                          "4449444c016c02f3eec6b40268bbd1eacd0e780100011d" + goldenGatewayHex + "1e5b89ba6f5ba2fe",
	"close":                         "4449444c026c02fa80a2940568bbd1eacd0e786c01ebb49ce903000101011d" + goldenClientHex + "1e5b89ba6f5ba2fe",
	"message":                       "4449444c056d7b6c02fa80a2940568bbd1eacd0e786c0588ecfba70178b99adecb0100ebb49ce90301d6a9bbae0a78e8f5c3be0a7e6c01c1b4cc02026e7f020304010000000000000022" + goldenAppHex + "011d" + goldenClientHex + "1e5b89ba6f5ba2fe0058cea54a2dee180000",
	"getMessages":                   "4449444c016c01ef9999fe097801003930000000000000",
	"resultOk":                      "4449444c016b02bc8a017fc5fed20171010000",
	"resultErr":                     "4449444c016b02bc8a017fc5fed2017101000117496e76616c69642073657276696365206d657373616765",
	"messagesOk":                    "4449444c066d7b6c02fa80a2940568bbd1eacd0e786c039f93c60271b99adecb0100ebb49ce903016d026c04ccb1f7a70303e4cdf48d0400deb28ee80400829c8df40d7e6b02bc8a0104c5fed20171010500015479733434692d336e6175672d726b686a662d66753274322d726b6e6b762d6f776b336c2d76707763792d33666d35752d7777336c702d6f667a786b2d3571655f3030303030303030303030303030303030303030b701" + goldenCBORHex + "011d" + goldenClientHex + "1e5b89ba6f5ba2fe0301020302040501",
	"messagesEmpty":                 "4449444c066d7b6c02fa80a2940568bbd1eacd0e786c039f93c60271b99adecb0100ebb49ce903016d026c04ccb1f7a70303e4cdf48d0400deb28ee80400829c8df40d7e6b02bc8a0104c5fed2017101050000000001",
	"messagesErr":                   "4449444c066d7b6c02fa80a2940568bbd1eacd0e786c039f93c60271b99adecb0100ebb49ce903016d026c04ccb1f7a70303e4cdf48d0400deb28ee80400829c8df40d7e6b02bc8a0104c5fed201710105012a476174657761792077697468207072696e636970616c2078206973206e6f742072656769737465726564",
	"svcOpen":                       goldenServiceTable + "0500011d" + goldenClientHex + "1e5b89ba6f5ba2fe",
	"svcAck":                        goldenServiceTable + "05030700000000000000",
	"svcKeepAlive":                  goldenServiceTable + "05010600000000000000",
	"svcCloseWrongSequenceNumber":   goldenServiceTable + "050202",
	"svcCloseInvalidServiceMessage": goldenServiceTable + "050201",
	"svcCloseKeepAliveTimeout":      goldenServiceTable + "050203",
	"svcCloseClosedByApplication":   goldenServiceTable + "050200",
}

// goldenServiceTable is the header and type table of WebsocketServiceMessageContent, then the
// argument count (1); the argument's type (5) and value follow.
const goldenServiceTable = "4449444c066c02fa80a2940568bbd1eacd0e786c01ebb49ce903006c01d888abb90a786b04cdc2dabb047fc9c68ea0057fd7aba29c0a7f999dafab0d7f6c01c49ff4e40f036b04fdbd95cc0101bfd397b409028ff2d1ef0a049eb7f0ad0b0201"

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func mustPrincipal(t testing.TB, h string) principal.Principal {
	t.Helper()
	p, err := principal.FromBytes(unhex(t, h))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func goldenKey(t testing.TB) ClientKey {
	return ClientKey{Principal: mustPrincipal(t, goldenClientHex), Nonce: goldenNonce}
}

func goldenMessage(t testing.TB) WebsocketMessage {
	return WebsocketMessage{Key: goldenKey(t), SequenceNum: 1, Timestamp: goldenTimestamp, Content: unhex(t, goldenAppHex)}
}

// goldenValues are the values goldenCandid encodes, with the encoder and decoder of each.
func goldenValues(t testing.TB) []goldenCase {
	gw := mustPrincipal(t, goldenGatewayHex)
	ck := goldenKey(t)
	certified := CertifiedMessages{
		Messages:     []OutputMessage{{Key: ck, MessageKey: Key(gw, 0), Content: unhex(t, goldenCBORHex)}},
		Cert:         []byte{1, 2, 3},
		Tree:         []byte{4, 5},
		IsEndOfQueue: true,
	}
	svc := func(m ServiceMessage) goldenCase {
		return goldenCase{value: m, encode: func() ([]byte, error) { return EncodeServiceMessage(m) },
			decode: func(b []byte) (any, error) { return DecodeServiceMessage(b) }}
	}
	closeWith := func(r CloseReason) goldenCase { return svc(ServiceMessage{Close: &CloseMessage{Reason: r}}) }
	ok := func(b []byte) ([]byte, error) { return b, nil }
	return []goldenCase{
		{name: "open", value: OpenArgs{ClientNonce: goldenNonce, GatewayPrincipal: gw},
			encode: func() ([]byte, error) {
				return ok(EncodeOpenArgs(OpenArgs{ClientNonce: goldenNonce, GatewayPrincipal: gw}))
			},
			decode: func(b []byte) (any, error) { return DecodeOpenArgs(b) }},
		{name: "close", value: CloseArgs{Key: ck},
			encode: func() ([]byte, error) { return ok(EncodeCloseArgs(CloseArgs{Key: ck})) },
			decode: func(b []byte) (any, error) { return DecodeCloseArgs(b) }},
		{name: "message", value: MessageArgs{Msg: goldenMessage(t)},
			encode: func() ([]byte, error) { return ok(EncodeMessageArgs(MessageArgs{Msg: goldenMessage(t)})) },
			decode: func(b []byte) (any, error) { return DecodeMessageArgs(b) }},
		{name: "getMessages", value: GetMessagesArgs{Nonce: 12345},
			encode: func() ([]byte, error) { return ok(EncodeGetMessagesArgs(GetMessagesArgs{Nonce: 12345})) },
			decode: func(b []byte) (any, error) { return DecodeGetMessagesArgs(b) }},
		{name: "resultOk", value: error(nil),
			encode: func() ([]byte, error) { return ok(EncodeResult(nil)) },
			decode: func(b []byte) (any, error) { return DecodeResult(b), nil }},
		{name: "resultErr", value: &CanisterError{Text: "Invalid service message"},
			encode: func() ([]byte, error) { return ok(EncodeResult(&CanisterError{Text: "Invalid service message"})) },
			decode: func(b []byte) (any, error) { return DecodeResult(b), nil }},
		{name: "messagesOk", value: certified,
			encode: func() ([]byte, error) { return EncodeGetMessagesResult(certified) },
			decode: func(b []byte) (any, error) { return DecodeGetMessagesResult(b) }},
		{name: "messagesEmpty", value: CertifiedMessages{Messages: []OutputMessage{}, Cert: []byte{}, Tree: []byte{}, IsEndOfQueue: true},
			encode: func() ([]byte, error) { return EncodeGetMessagesResult(CertifiedMessages{IsEndOfQueue: true}) },
			decode: func(b []byte) (any, error) { return DecodeGetMessagesResult(b) }},
		{name: "messagesErr", value: &CanisterError{Text: "Gateway with principal x is not registered"},
			encode: func() ([]byte, error) {
				return ok(EncodeGetMessagesError(errors.New("Gateway with principal x is not registered")))
			},
			decode: func(b []byte) (any, error) {
				_, err := DecodeGetMessagesResult(b)
				return err, nil
			}},
		withName("svcOpen", svc(ServiceMessage{Open: &OpenMessage{Key: ck}})),
		withName("svcAck", svc(ServiceMessage{Ack: &AckMessage{LastIncomingSequenceNum: 7}})),
		withName("svcKeepAlive", svc(ServiceMessage{KeepAlive: &KeepAliveMessage{LastIncomingSequenceNum: 6}})),
		withName("svcCloseWrongSequenceNumber", closeWith(ReasonWrongSequenceNumber)),
		withName("svcCloseInvalidServiceMessage", closeWith(ReasonInvalidServiceMessage)),
		withName("svcCloseKeepAliveTimeout", closeWith(ReasonKeepAliveTimeout)),
		withName("svcCloseClosedByApplication", closeWith(ReasonClosedByApplication)),
	}
}

type goldenCase struct {
	name   string
	value  any
	encode func() ([]byte, error)
	decode func([]byte) (any, error)
}

func withName(name string, c goldenCase) goldenCase { c.name = name; return c }

// TestGoldenCandid encodes every value to its golden bytes and decodes the golden bytes back.
func TestGoldenCandid(t *testing.T) {
	cases := goldenValues(t)
	if len(cases) != len(goldenCandid)-1 { // "app" is the application's, not this package's
		t.Fatalf("%d cases for %d goldens", len(cases), len(goldenCandid)-1)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := goldenCandid[c.name]
			got, err := c.encode()
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if hex.EncodeToString(got) != want {
				t.Errorf("encode:\n got %x\nwant %s", got, want)
			}
			v, err := c.decode(unhex(t, want))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(v, c.value) {
				t.Errorf("decode: got %#v, want %#v", v, c.value)
			}
		})
	}
}

// TestGoldenCBOR checks the canister's CBOR of a WebsocketMessage against serde_cbor's layout
// and decodes both that and agent-js's encoding of the same message.
func TestGoldenCBOR(t *testing.T) {
	m := goldenMessage(t)
	if got := hex.EncodeToString(m.MarshalCBOR()); got != goldenCBORHex {
		t.Errorf("MarshalCBOR:\n got %s\nwant %s", got, goldenCBORHex)
	}
	service := m
	service.IsServiceMessage, service.SequenceNum, service.Content = true, 1<<40, nil
	for name, in := range map[string][]byte{
		"golden":   unhex(t, goldenCBORHex),
		"agent-js": unhex(t, goldenAgentCBORHex),
		"untagged": unhex(t, goldenCBORHex)[3:],
	} {
		got, err := UnmarshalWebsocketMessage(in)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("%s: got %+v, %v; want %+v", name, got, err, m)
		}
	}
	got, err := UnmarshalWebsocketMessage(service.MarshalCBOR())
	if err != nil || !got.IsServiceMessage || got.SequenceNum != 1<<40 || len(got.Content) != 0 {
		t.Errorf("service round trip: %+v, %v", got, err)
	}
}

// TestDecodeRefuses gives every decoder input it must refuse, each with the text the error must
// name.
func TestDecodeRefuses(t *testing.T) {
	cbor := func(s string) []byte { return unhex(t, s) }
	tests := []struct {
		name   string
		decode func([]byte) error
		in     []byte
		want   string
	}{
		{"open empty", func(b []byte) error { _, err := DecodeOpenArgs(b); return err }, nil, "ws_open argument"},
		{"open as close", func(b []byte) error { _, err := DecodeOpenArgs(b); return err }, unhex(t, goldenCandid["close"]), "ws_open argument"},
		{"close as open", func(b []byte) error { _, err := DecodeCloseArgs(b); return err }, unhex(t, goldenCandid["open"]), "ws_close argument"},
		{"message truncated", func(b []byte) error { _, err := DecodeMessageArgs(b); return err }, unhex(t, goldenCandid["message"])[:40], "ws_message argument"},
		{"get messages text", func(b []byte) error { _, err := DecodeGetMessagesArgs(b); return err }, mustMarshal(t, "x"), "ws_get_messages argument"},
		{"result bool", func(b []byte) error {
			if err := DecodeResult(b); err != nil && !errors.As(err, new(*CanisterError)) {
				return err
			}
			return nil
		}, mustMarshal(t, true), "result"},
		{"messages result as result", func(b []byte) error { _, err := DecodeGetMessagesResult(b); return err }, unhex(t, goldenCandid["resultOk"]), "ws_get_messages result"},
		{"service open args", func(b []byte) error { _, err := DecodeServiceMessage(b); return err }, unhex(t, goldenCandid["open"]), "service message"},
		{"cbor empty", func(b []byte) error { _, err := UnmarshalWebsocketMessage(b); return err }, nil, "WebsocketMessage CBOR"},
		{"cbor trailing", func(b []byte) error { _, err := UnmarshalWebsocketMessage(b); return err }, append(cbor(goldenCBORHex), 0), "WebsocketMessage CBOR"},
		{"cbor missing content", func(b []byte) error { _, err := UnmarshalWebsocketMessage(b); return err },
			cbor(strings.Replace(strings.Split(goldenCBORHex, "67636f6e74656e74")[0], "a5", "a4", 1)), `"content"`},
		{"cbor missing principal", func(b []byte) error { _, err := UnmarshalWebsocketMessage(b); return err },
			cbor("a5" + "6a636c69656e745f6b6579a1" + "6c636c69656e745f6e6f6e636501" + "6c73657175656e63655f6e756d01" + "6974696d657374616d7001" + "7269735f736572766963655f6d657373616765f4" + "67636f6e74656e7440"), "client_principal"},
		{"cbor long principal", func(b []byte) error { _, err := UnmarshalWebsocketMessage(b); return err },
			cbor("a5" + "6a636c69656e745f6b6579a2" + "70636c69656e745f7072696e636970616c581e" + goldenClientHex + "00" + "6c636c69656e745f6e6f6e636501" + "6c73657175656e63655f6e756d01" + "6974696d657374616d7001" + "7269735f736572766963655f6d657373616765f4" + "67636f6e74656e7440"), "client_principal"},
		{"cbor sequence as text", func(b []byte) error { _, err := UnmarshalWebsocketMessage(b); return err },
			cbor(strings.Replace(goldenCBORHex, "6c73657175656e63655f6e756d01", "6c73657175656e63655f6e756d6131", 1)), "WebsocketMessage CBOR"},
		{"cbor duplicate key", func(b []byte) error { _, err := UnmarshalWebsocketMessage(b); return err },
			cbor(strings.Replace(goldenCBORHex, "a5", "a6", 1) + "6c73657175656e63655f6e756d02"), "WebsocketMessage CBOR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode(tt.in)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want an error wrapping ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := candid.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGetMessagesResultWithoutEndOfQueue decodes a CDK 0.3.0 reply, which has no
// is_end_of_queue, as the end of the queue, as Omnia's gateway does.
func TestGetMessagesResultWithoutEndOfQueue(t *testing.T) {
	type old struct {
		Messages []OutputMessage `candid:"messages"`
		Cert     []byte          `candid:"cert"`
		Tree     []byte          `candid:"tree"`
	}
	type oldResult struct {
		Ok  *old    `candid:"Ok,variant"`
		Err *string `candid:"Err,variant"`
	}
	m, err := DecodeGetMessagesResult(mustMarshal(t, oldResult{Ok: &old{Cert: []byte{1}}}))
	if err != nil || !m.IsEndOfQueue || len(m.Cert) != 1 {
		t.Errorf("got %+v, %v; want IsEndOfQueue", m, err)
	}
	m, err = DecodeGetMessagesResult(unhex(t, goldenCandid["messagesOk"]))
	if err != nil || !m.IsEndOfQueue {
		t.Errorf("golden: %+v, %v", m, err)
	}
	b, err := EncodeGetMessagesResult(CertifiedMessages{IsEndOfQueue: false})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := DecodeGetMessagesResult(b); err != nil || m.IsEndOfQueue {
		t.Errorf("is_end_of_queue false: %+v, %v", m, err)
	}
}

// TestEncodeServiceMessageRefuses refuses service messages that are not one alternative.
func TestEncodeServiceMessageRefuses(t *testing.T) {
	for name, m := range map[string]ServiceMessage{
		"none":           {},
		"two":            {Ack: &AckMessage{}, KeepAlive: &KeepAliveMessage{}},
		"unknown reason": {Close: &CloseMessage{Reason: 9}},
		"zero reason":    {Close: &CloseMessage{}},
	} {
		if _, err := EncodeServiceMessage(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

// TestEncodeResultText checks that Err texts are kept, and made valid UTF-8.
func TestEncodeResultText(t *testing.T) {
	for in, want := range map[error]string{
		errors.New("plain"):                 "plain",
		&CanisterError{Text: "bare"}:        "bare",
		errors.New("bad \xff byte"):         "bad \uFFFD byte",
		&CanisterError{Text: "bad \xc0 ok"}: "bad \uFFFD ok",
	} {
		var ce *CanisterError
		if err := DecodeResult(EncodeResult(in)); !errors.As(err, &ce) || ce.Text != want {
			t.Errorf("%q: got %v, want Err %q", in, err, want)
		}
		if _, err := DecodeGetMessagesResult(EncodeGetMessagesError(in)); !errors.As(err, &ce) || ce.Text != want {
			t.Errorf("%q: ws_get_messages: got %v, want Err %q", in, err, want)
		}
	}
}

// TestCloseReasonString names every reason as Candid does.
func TestCloseReasonString(t *testing.T) {
	for r, want := range map[CloseReason]string{
		ReasonWrongSequenceNumber: "WrongSequenceNumber", ReasonInvalidServiceMessage: "InvalidServiceMessage",
		ReasonKeepAliveTimeout: "KeepAliveTimeout", ReasonClosedByApplication: "ClosedByApplication", 0: "CloseReason(0)",
	} {
		if got := r.String(); got != want {
			t.Errorf("%d: got %q, want %q", r, got, want)
		}
	}
	if got := goldenKey(t).String(); got != goldenClientText+"_18348328367289883422" {
		t.Errorf("ClientKey.String: %q", got)
	}
}

// TestDecodeMessageArgsSecondArgument: the second argument of ws_message is ignored whatever it
// holds (ic-websocket-js sends null of type opt null; a Rust client may send its type), and a
// missing one is fine.
func TestDecodeMessageArgsSecondArgument(t *testing.T) {
	type app struct {
		Text      string `candid:"text"`
		Timestamp uint64 `candid:"timestamp"`
	}
	args := MessageArgs{Msg: goldenMessage(t)}
	for name, b := range map[string][]byte{
		"opt null":   unhex(t, goldenCandid["message"]),
		"some":       mustMarshal2(t, args, &app{Text: "x"}),
		"none typed": mustMarshal2(t, args, (*app)(nil)),
		"missing":    mustMarshal(t, args),
	} {
		got, err := DecodeMessageArgs(b)
		if err != nil || !reflect.DeepEqual(got, args) {
			t.Errorf("%s: %+v, %v", name, got, err)
		}
	}
}

func mustMarshal2(t testing.TB, a, b any) []byte {
	t.Helper()
	out, err := candid.Marshal(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
