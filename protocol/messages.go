package protocol

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"github.com/icws/icws/ic/cbor"
)

// FirstMessage is S1, the first message of a connection: which canister the client wants, which
// client it is, and (icws clients) a fresh open nonce. The client signs its exact encoded bytes.
//
// Wire form, keys sorted as the seed client writes them: d9d9f7 a2 "canister_id": text,
// "client_id": uint (the seed form); or d9d9f7 a3 with "open_nonce": uint after them.
type FirstMessage struct {
	// CanisterID is the textual principal of the canister.
	CanisterID string `cbor:"canister_id"`
	// ClientID is the id ws_register returned.
	ClientID uint64 `cbor:"client_id"`
	// OpenNonce, when not zero, makes the first message fresh: the canister accepts a first
	// message of this client only if its OpenNonce is greater than that of every one accepted
	// before, and none without one after one with one, so a gateway cannot replay it to pull the
	// client back. icws clients use NextOpenNonce. Zero means the key is absent (the seed form);
	// an explicit 0 on the wire is refused.
	OpenNonce uint64 `cbor:"open_nonce,omitempty"`
}

// Marshal encodes m as the seed client does: tagged, keys canister_id, client_id and, when
// OpenNonce is set, open_nonce.
func (m FirstMessage) Marshal() []byte {
	n := uint64(2)
	size := len(cbor.SelfDescribePrefix) + 1 + 12 + cbor.HeadLen(uint64(len(m.CanisterID))) + len(m.CanisterID) + 10 + 9
	if m.OpenNonce != 0 {
		n, size = 3, size+11+9
	}
	b := make([]byte, 0, size)
	b = append(b, cbor.SelfDescribePrefix...)
	b = cbor.AppendHead(b, cbor.MajorMap, n)
	b = cbor.AppendText(b, "canister_id")
	b = cbor.AppendText(b, m.CanisterID)
	b = cbor.AppendText(b, "client_id")
	b = appendUint(b, m.ClientID)
	if m.OpenNonce != 0 {
		b = cbor.AppendText(b, "open_nonce")
		b = appendUint(b, m.OpenNonce)
	}
	return b
}

// DecodeFirstMessage decodes S1. Keys may come in any order; the tag is optional; unknown keys
// are ignored. An open_nonce of 0 is an error (leave the key out instead).
func DecodeFirstMessage(b []byte) (FirstMessage, error) {
	var m FirstMessage
	const what = "first message"
	seen, err := decodeMap(what, b, func(r *reader, key []byte) (int, bool, error) {
		var err error
		switch string(key) {
		case "canister_id":
			m.CanisterID, err = r.text("canister_id")
			return 0, true, err
		case "client_id":
			m.ClientID, err = r.uint("client_id")
			return 1, true, err
		case "open_nonce":
			m.OpenNonce, err = r.uint("open_nonce")
			if err == nil && m.OpenNonce == 0 {
				err = fmt.Errorf("field \"open_nonce\": %w", r.errorf("0 is not a nonce (leave the key out instead)"))
			}
			return 2, true, err
		}
		return 0, false, nil
	})
	if err == nil {
		err = missing(what, seen, "canister_id", "client_id")
	}
	if err != nil {
		return FirstMessage{}, err
	}
	return m, nil
}

// NextOpenNonce returns the open nonce of a client's next first message: the time now in
// nanoseconds since the Unix epoch, or last+1 if that is not greater than last (the nonce of the
// client's previous first message, 0 for none), so that nonces strictly increase even when the
// clock stands still or steps back. It never returns 0.
func NextOpenNonce(last uint64, now time.Time) uint64 {
	var n uint64
	if ns := now.UnixNano(); ns > 0 {
		n = uint64(ns)
	}
	if n <= last {
		if last == math.MaxUint64 {
			return last // cannot increase; the canister will refuse it
		}
		n = last + 1
	}
	return n
}

// SignedFirstMessage is S2, the first WebSocket frame a client sends: S1's exact bytes and the
// client's Ed25519 signature over them.
//
// Wire form: d9d9f7 a2 "client_canister_id": bytes (S1), "sig": bytes(64).
type SignedFirstMessage struct {
	// FirstMessage is the exact encoded S1, as signed (wire key client_canister_id).
	FirstMessage []byte `cbor:"client_canister_id"`
	// Sig is the Ed25519 signature over FirstMessage.
	Sig []byte `cbor:"sig"`
	// Batch is the client's frame opt-in (docs/PROTOCOL.md §13.1): BatchFrames asks for S9
	// frames; 0 (the key left out) for S6 frames only, as the seed.
	Batch uint64 `cbor:"batch"`
}

// Marshal encodes m as the seed client does: tagged, keys client_canister_id then sig, then
// batch if it is not 0.
func (m SignedFirstMessage) Marshal() []byte {
	b := marshalBytesPair("client_canister_id", m.FirstMessage, "sig", m.Sig)
	if m.Batch == 0 {
		return b
	}
	b[len(cbor.SelfDescribePrefix)] = 0xa3 // map(3) instead of map(2)
	b = cbor.AppendText(b, "batch")
	return appendUint(b, m.Batch)
}

// DecodeSignedFirstMessage decodes S2. The byte slices of the result alias b. It does not decode
// or verify the inner S1; see Decode and Verify.
func DecodeSignedFirstMessage(b []byte) (SignedFirstMessage, error) {
	var m SignedFirstMessage
	const what = "signed first message"
	seen, err := decodeMap(what, b, func(r *reader, key []byte) (int, bool, error) {
		var err error
		switch string(key) {
		case "client_canister_id":
			m.FirstMessage, err = r.bytes("client_canister_id")
			return 0, true, err
		case "sig":
			m.Sig, err = r.bytes("sig")
			return 1, true, err
		case "batch":
			m.Batch, err = r.uint("batch")
			return 2, true, err
		}
		return 0, false, nil
	})
	if err == nil {
		err = missing(what, seen, "client_canister_id", "sig")
	}
	if err != nil {
		return SignedFirstMessage{}, err
	}
	return m, nil
}

// Decode decodes the inner first message (S1).
func (m SignedFirstMessage) Decode() (FirstMessage, error) { return DecodeFirstMessage(m.FirstMessage) }

// AppMessage is S3, the payload of the example canisters (echo, chat): a text.
//
// Wire form: d9d9f7 a1 "text": text. Canister libraries treat payloads as opaque bytes; this type
// is the examples' convention.
type AppMessage struct {
	// Text is the message text.
	Text string `cbor:"text"`
}

// Marshal encodes m, tagged.
func (m AppMessage) Marshal() []byte {
	b := make([]byte, 0, len(cbor.SelfDescribePrefix)+1+5+9+len(m.Text))
	b = append(b, cbor.SelfDescribePrefix...)
	b = cbor.AppendHead(b, cbor.MajorMap, 1)
	b = cbor.AppendText(b, "text")
	return cbor.AppendText(b, m.Text)
}

// DecodeAppMessage decodes S3.
func DecodeAppMessage(b []byte) (AppMessage, error) {
	var m AppMessage
	seen, err := decodeMap("app message", b, func(r *reader, key []byte) (int, bool, error) {
		if string(key) != "text" {
			return 0, false, nil
		}
		var err error
		m.Text, err = r.text("text")
		return 0, true, err
	})
	if err == nil {
		err = missing("app message", seen, "text")
	}
	if err != nil {
		return AppMessage{}, err
	}
	return m, nil
}

// WebsocketMessage is S4, one message in either direction, with the recipient or sender client,
// its sequence number in its direction, a timestamp and the application payload.
//
// Canister encoding (the seed canister's field order): d9d9f7 a4 "client_id", "sequence_num",
// "timestamp" (uints), "message" (bytes). Client encoding (the seed client's, keys sorted):
// "client_id", "message", "sequence_num", "timestamp".
//
// A service message (Service set) has an empty Message and extra keys: "ack" (uint) and, from
// the canister only, "ack_time" (uint) and "close" (text). Normal messages never carry them, so
// they stay byte-compatible with the seed. See docs/PROTOCOL.md.
type WebsocketMessage struct {
	// ClientID is the client the message is for (canister → client) or from (client → canister).
	ClientID uint64 `cbor:"client_id"`
	// SequenceNum numbers the messages of one direction of one client: 0, 1, 2, …
	SequenceNum uint64 `cbor:"sequence_num"`
	// Timestamp is the sender's time in nanoseconds since the Unix epoch. The canister writes IC
	// time; the seed client writes 2^53 (a JS number cap) and the canister ignores it.
	Timestamp uint64 `cbor:"timestamp"`
	// Message is the application payload (opaque bytes; empty in service messages).
	Message []byte `cbor:"message"`

	// Service marks a service message: it has the "ack" key and is not given to the application.
	Service bool `cbor:"-"`
	// Ack is, from the canister, the next client sequence number it expects (every earlier client
	// message was accepted); from a client, the next canister sequence number it expects (every
	// earlier canister message arrived and verified). Only in service messages.
	Ack uint64 `cbor:"ack,omitempty"`
	// AckTime, in a canister service message, is the IC time (ns) at which the canister accepted
	// client message Ack−1 (or opened the client, if that came later): clients count a message
	// written behind that one from it (docs/PROTOCOL.md §6.2). Zero leaves the key out (canisters
	// before it); clients then count from the service message's Timestamp.
	AckTime uint64 `cbor:"ack_time,omitempty"`
	// Close, in a canister service message, says the canister closed the connection and why. It
	// is the last message the client gets.
	Close string `cbor:"close,omitempty"`
}

func (m *WebsocketMessage) sizeHint() int {
	return len(cbor.SelfDescribePrefix) + 1 + 10 + 9 + 13 + 9 + 10 + 9 + 8 + 9 + len(m.Message) + 4 + 9 + 9 + 9 + 6 + 9 + len(m.Close)
}

// MarshalCanister encodes m as the canister does: tagged, keys client_id, sequence_num,
// timestamp, message, then ack, ack_time (when not zero) and close for a service message.
func (m *WebsocketMessage) MarshalCanister() []byte {
	return m.AppendCanister(make([]byte, 0, m.sizeHint()))
}

// AppendCanister appends the canister encoding of m to dst.
func (m *WebsocketMessage) AppendCanister(dst []byte) []byte {
	n := uint64(4)
	if m.Service {
		n++
		if m.AckTime != 0 {
			n++
		}
		if m.Close != "" {
			n++
		}
	}
	dst = append(dst, cbor.SelfDescribePrefix...)
	dst = cbor.AppendHead(dst, cbor.MajorMap, n)
	dst = cbor.AppendText(dst, "client_id")
	dst = appendUint(dst, m.ClientID)
	dst = cbor.AppendText(dst, "sequence_num")
	dst = appendUint(dst, m.SequenceNum)
	dst = cbor.AppendText(dst, "timestamp")
	dst = appendUint(dst, m.Timestamp)
	dst = cbor.AppendText(dst, "message")
	dst = cbor.AppendBytes(dst, m.Message)
	if m.Service {
		dst = cbor.AppendText(dst, "ack")
		dst = appendUint(dst, m.Ack)
		if m.AckTime != 0 {
			dst = cbor.AppendText(dst, "ack_time")
			dst = appendUint(dst, m.AckTime)
		}
		if m.Close != "" {
			dst = cbor.AppendText(dst, "close")
			dst = cbor.AppendText(dst, m.Close)
		}
	}
	return dst
}

// MarshalClient encodes m as the seed client does: tagged, keys sorted (ack, client_id, close,
// message, sequence_num, timestamp; ack and close only in service messages). AckTime is the
// canister's and is not encoded.
func (m *WebsocketMessage) MarshalClient() []byte {
	return m.AppendClient(make([]byte, 0, m.sizeHint()))
}

// AppendClient appends the client encoding of m to dst.
func (m *WebsocketMessage) AppendClient(dst []byte) []byte {
	n := uint64(4)
	if m.Service {
		n++
		if m.Close != "" {
			n++
		}
	}
	dst = append(dst, cbor.SelfDescribePrefix...)
	dst = cbor.AppendHead(dst, cbor.MajorMap, n)
	if m.Service {
		dst = cbor.AppendText(dst, "ack")
		dst = appendUint(dst, m.Ack)
	}
	dst = cbor.AppendText(dst, "client_id")
	dst = appendUint(dst, m.ClientID)
	if m.Service && m.Close != "" {
		dst = cbor.AppendText(dst, "close")
		dst = cbor.AppendText(dst, m.Close)
	}
	dst = cbor.AppendText(dst, "message")
	dst = cbor.AppendBytes(dst, m.Message)
	dst = cbor.AppendText(dst, "sequence_num")
	dst = appendUint(dst, m.SequenceNum)
	dst = cbor.AppendText(dst, "timestamp")
	return appendUint(dst, m.Timestamp)
}

// DecodeWebsocketMessage decodes S4 in either encoding. Message aliases b. A message with the
// "ack" key is a service message; "close" without "ack" is an error.
func DecodeWebsocketMessage(b []byte) (WebsocketMessage, error) {
	var m WebsocketMessage
	const what = "websocket message"
	seen, err := decodeMap(what, b, func(r *reader, key []byte) (int, bool, error) {
		var err error
		switch string(key) {
		case "client_id":
			m.ClientID, err = r.uint("client_id")
			return 0, true, err
		case "sequence_num":
			m.SequenceNum, err = r.uint("sequence_num")
			return 1, true, err
		case "timestamp":
			m.Timestamp, err = r.uint("timestamp")
			return 2, true, err
		case "message":
			m.Message, err = r.bytes("message")
			return 3, true, err
		case "ack":
			m.Ack, err = r.uint("ack")
			return 4, true, err
		case "close":
			m.Close, err = r.text("close")
			return 5, true, err
		case "ack_time":
			m.AckTime, err = r.uint("ack_time")
			return 6, true, err
		}
		return 0, false, nil
	})
	if err == nil {
		err = missing(what, seen, "client_id", "sequence_num", "timestamp", "message")
	}
	if err != nil {
		return WebsocketMessage{}, err
	}
	m.Service = seen&(1<<4) != 0
	if seen&(1<<5) != 0 && !m.Service {
		return WebsocketMessage{}, fmt.Errorf("%s: %w: \"close\" without \"ack\"", what, ErrMalformed)
	}
	if seen&(1<<6) != 0 && !m.Service {
		return WebsocketMessage{}, fmt.Errorf("%s: %w: \"ack_time\" without \"ack\"", what, ErrMalformed)
	}
	if m.Service && m.Close == "" && seen&(1<<5) != 0 {
		return WebsocketMessage{}, fmt.Errorf("%s: %w: empty \"close\" reason", what, ErrMalformed)
	}
	return m, nil
}

// IsServiceMessage reports whether b is an S4 with the "ack" key, a canister service message,
// reading only the map's keys (values are skipped; nothing is allocated). It is false for bytes
// that are not an S4 map; DecodeWebsocketMessage says what is wrong with them.
func IsServiceMessage(b []byte) bool {
	// Every service message holds the key's encoding: most application messages end here.
	if !bytes.Contains(b, []byte("\x63ack")) {
		return false
	}
	seen, err := decodeMap("websocket message", b, func(r *reader, key []byte) (int, bool, error) {
		i := 0
		switch string(key) {
		case "client_id":
		case "sequence_num":
			i = 1
		case "timestamp":
			i = 2
		case "message":
			i = 3
		case "ack":
			i = 4
		case "close":
			i = 5
		default:
			return 0, false, nil
		}
		return i, true, r.skip(0)
	})
	return err == nil && seen&(1<<4) != 0
}

// ClientMessage is S5, a client's message frame: S4's exact bytes and the client's Ed25519
// signature over them. The gateway passes the frame verbatim as the argument of ws_message.
//
// Wire form (as the seed client writes it, keys sorted): d9d9f7 a2 "sig": bytes(64), "val": bytes.
type ClientMessage struct {
	// Sig is the Ed25519 signature over Val.
	Sig []byte `cbor:"sig"`
	// Val is the exact encoded S4.
	Val []byte `cbor:"val"`
}

// Marshal encodes m as the seed client does: tagged, keys sig then val.
func (m ClientMessage) Marshal() []byte {
	return marshalBytesPair("sig", m.Sig, "val", m.Val)
}

// DecodeClientMessage decodes S5. The byte slices of the result alias b. It does not decode or
// verify the inner S4; see Decode and Verify.
func DecodeClientMessage(b []byte) (ClientMessage, error) {
	sig, val, err := decodeBytesPair("client message", b, "sig", "val")
	if err != nil {
		return ClientMessage{}, err
	}
	return ClientMessage{Sig: sig, Val: val}, nil
}

// marshalBytesPair encodes the signed-envelope shape shared by S2 and S5: tagged, a map of two
// byte strings under the keys k1 then k2.
func marshalBytesPair(k1 string, v1 []byte, k2 string, v2 []byte) []byte {
	b := make([]byte, 0, len(cbor.SelfDescribePrefix)+1+
		cbor.HeadLen(uint64(len(k1)))+len(k1)+cbor.HeadLen(uint64(len(v1)))+len(v1)+
		cbor.HeadLen(uint64(len(k2)))+len(k2)+cbor.HeadLen(uint64(len(v2)))+len(v2))
	b = append(b, cbor.SelfDescribePrefix...)
	b = cbor.AppendHead(b, cbor.MajorMap, 2)
	b = cbor.AppendText(b, k1)
	b = cbor.AppendBytes(b, v1)
	b = cbor.AppendText(b, k2)
	return cbor.AppendBytes(b, v2)
}

// decodeBytesPair decodes what marshalBytesPair writes, in any key order, unknown keys ignored;
// both keys are required. The slices alias b.
func decodeBytesPair(what string, b []byte, k1, k2 string) (v1, v2 []byte, err error) {
	seen, err := decodeMap(what, b, func(r *reader, key []byte) (int, bool, error) {
		var err error
		switch string(key) {
		case k1:
			v1, err = r.bytes(k1)
			return 0, true, err
		case k2:
			v2, err = r.bytes(k2)
			return 1, true, err
		}
		return 0, false, nil
	})
	if err == nil {
		err = missing(what, seen, k1, k2)
	}
	if err != nil {
		return nil, nil, err
	}
	return v1, v2, nil
}

// Decode decodes the inner websocket message (S4).
func (m ClientMessage) Decode() (WebsocketMessage, error) { return DecodeWebsocketMessage(m.Val) }

// CertMessage is S6, one canister message as the gateway sends it to the client in one binary
// WebSocket frame: the certified-map key, the message (S4, canister encoding, as certified), and
// the certificate and witness of the batch it came in.
//
// Wire form: a4 (no tag) "key": text, "val": bytes, "cert": bytes, "tree": bytes, in that order.
type CertMessage struct {
	// Key is the message's key in the canister's certified map.
	Key string `cbor:"key"`
	// Val is the exact S4 bytes whose SHA-256 is certified under Key.
	Val []byte `cbor:"val"`
	// Cert is the IC certificate of the canister's certified data.
	Cert []byte `cbor:"cert"`
	// Tree is the tagged CBOR hash tree witnessing Key under the label "websocket".
	Tree []byte `cbor:"tree"`
}

// Size is the length of m's encoding.
func (m *CertMessage) Size() int {
	return CertHeadSize(m.Key, len(m.Val)) + len(m.Val) + CertTailSize(m.Cert, m.Tree)
}

// Marshal encodes m (untagged; keys key, val, cert, tree).
func (m *CertMessage) Marshal() []byte { return m.AppendCBOR(make([]byte, 0, m.Size())) }

// AppendCBOR appends the encoding of m to dst.
func (m *CertMessage) AppendCBOR(dst []byte) []byte {
	dst = AppendCertHead(dst, m.Key, len(m.Val))
	dst = append(dst, m.Val...)
	return AppendCertTail(dst, m.Cert, m.Tree)
}

// AppendCertHead appends the start of an S6 frame to dst: the map head, "key": key, and "val"
// with the head of a byte string of valLen bytes. The frame goes on with the valLen bytes, then
// AppendCertTail's. A gateway writes the three parts separately so that the message and the
// batch's shared tail are never copied per client; CertMessage.AppendCBOR joins them.
func AppendCertHead(dst []byte, key string, valLen int) []byte {
	dst = cbor.AppendHead(dst, cbor.MajorMap, 4)
	dst = cbor.AppendText(dst, "key")
	dst = cbor.AppendText(dst, key)
	dst = cbor.AppendText(dst, "val")
	return cbor.AppendHead(dst, cbor.MajorBytes, uint64(valLen))
}

// CertHeadSize is the length of AppendCertHead's output.
func CertHeadSize(key string, valLen int) int {
	return 1 + 4 + cbor.HeadLen(uint64(len(key))) + len(key) + 4 + cbor.HeadLen(uint64(valLen))
}

// AppendCertTail appends the end of an S6 frame to dst: "cert": cert, "tree": tree. It is the
// same for every message of one ws_get_messages answer.
func AppendCertTail(dst, cert, tree []byte) []byte {
	dst = cbor.AppendText(dst, "cert")
	dst = cbor.AppendBytes(dst, cert)
	dst = cbor.AppendText(dst, "tree")
	return cbor.AppendBytes(dst, tree)
}

// AppendCertTailFunc is AppendCertTail with the tree's bytes appended by tree (to the slice it is
// given) in place, as cbor.AppendBytesFunc, instead of built apart and copied.
func AppendCertTailFunc(dst, cert []byte, tree func([]byte) []byte) []byte {
	dst = cbor.AppendText(dst, "cert")
	dst = cbor.AppendBytes(dst, cert)
	dst = cbor.AppendText(dst, "tree")
	return cbor.AppendBytesFunc(dst, tree)
}

// CertTailSize is the length of AppendCertTail's output.
func CertTailSize(cert, tree []byte) int {
	return 5 + cbor.HeadLen(uint64(len(cert))) + len(cert) + 5 + cbor.HeadLen(uint64(len(tree))) + len(tree)
}

// DecodeCertMessage decodes S6 (tag optional). Val, Cert and Tree alias b.
func DecodeCertMessage(b []byte) (CertMessage, error) {
	var m CertMessage
	seen, err := decodeMap("cert message", b, func(r *reader, key []byte) (int, bool, error) {
		var err error
		switch string(key) {
		case "key":
			m.Key, err = r.text("key")
			return 0, true, err
		case "val":
			m.Val, err = r.bytes("val")
			return 1, true, err
		case "cert":
			m.Cert, err = r.bytes("cert")
			return 2, true, err
		case "tree":
			m.Tree, err = r.bytes("tree")
			return 3, true, err
		}
		return 0, false, nil
	})
	if err == nil {
		err = missing("cert message", seen, "key", "val", "cert", "tree")
	}
	if err != nil {
		return CertMessage{}, err
	}
	return m, nil
}
