package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/icws/icws/ic/cbor"
)

// Certified channels (docs/PROTOCOL.md §12): names, keys, the certified value C1, the client's
// control C2, the canister's status C3, the gateway's frame S8 and the Candid types of
// ws_get_channel_messages.

// Limits of certified channels (docs/PROTOCOL.md §12.8).
const (
	// MaxChannelName is the longest channel name, in bytes.
	MaxChannelName = 64
	// MaxChannelVals is the most values an S8 frame may hold.
	MaxChannelVals = 10000
	// MaxChannelsPerQuery is the most channels one ws_get_channel_messages may name.
	MaxChannelsPerQuery = 256
	// MaxChannelQueryBytes bounds the vals bytes of one ws_get_channel_messages answer, leaving
	// the rest of the IC's 2 MiB response limit to the certificate and the witnesses.
	MaxChannelQueryBytes = 3 << 19 // 1.5 MiB
)

// MethodGetChannelMessages is the gateway's channel poll (a query).
const MethodGetChannelMessages = "ws_get_channel_messages"

// Errors of channels.
var (
	// ErrBadChannel is a channel name that is empty, too long or has a byte outside
	// `A–Z a–z 0–9 - _ . : /`.
	ErrBadChannel = errors.New("protocol: bad channel name")
)

// ValidateChannel reports whether name is a valid channel name (docs/PROTOCOL.md §12.1).
func ValidateChannel(name string) error {
	if len(name) == 0 || len(name) > MaxChannelName {
		return fmt.Errorf("%w: %q has %d bytes, want 1 to %d", ErrBadChannel, name, len(name), MaxChannelName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/':
		default:
			return fmt.Errorf("%w: %q has the byte %q at %d (allowed: letters, digits and - _ . : /)", ErrBadChannel, name, c, i)
		}
	}
	return nil
}

// ChannelKeyPrefix is the byte that starts every channel key; no principal text has it and it
// sorts after every principal character.
const ChannelKeyPrefix = '~'

// ChannelKey returns the certified-map key of message seq of channel:
// `~<channel>~<seq zero-padded to 20 digits>`.
func ChannelKey(channel string, seq uint64) string {
	return string(AppendChannelKey(make([]byte, 0, len(channel)+2+NonceDigits), channel, seq))
}

// AppendChannelKey appends ChannelKey(channel, seq) to dst.
func AppendChannelKey(dst []byte, channel string, seq uint64) []byte {
	dst = append(dst, ChannelKeyPrefix)
	dst = append(dst, channel...)
	dst = append(dst, ChannelKeyPrefix)
	var d [NonceDigits]byte
	for i := NonceDigits - 1; i >= 0; i-- {
		d[i] = '0' + byte(seq%10)
		seq /= 10
	}
	return append(dst, d[:]...)
}

// ChannelMessage is C1, one published message as certified under ChannelKey(Channel, Seq).
//
// Wire form: d9d9f7 a4 "channel": text, "seq": uint, "timestamp": uint, "message": bytes.
type ChannelMessage struct {
	// Channel is the channel's name.
	Channel string
	// Seq is the message's sequence number in the channel: 0, 1, 2, …
	Seq uint64
	// Timestamp is the IC time of the Publish, in nanoseconds since the Unix epoch.
	Timestamp uint64
	// Message is the payload.
	Message []byte
}

// Marshal encodes m (tagged, keys channel, seq, timestamp, message).
func (m *ChannelMessage) Marshal() []byte {
	b := make([]byte, 0, len(cbor.SelfDescribePrefix)+1+8+2+len(m.Channel)+4+9+10+9+8+9+len(m.Message))
	b = append(b, cbor.SelfDescribePrefix...)
	b = cbor.AppendHead(b, cbor.MajorMap, 4)
	b = cbor.AppendText(b, "channel")
	b = cbor.AppendText(b, m.Channel)
	b = cbor.AppendText(b, "seq")
	b = appendUint(b, m.Seq)
	b = cbor.AppendText(b, "timestamp")
	b = appendUint(b, m.Timestamp)
	b = cbor.AppendText(b, "message")
	return cbor.AppendBytes(b, m.Message)
}

// DecodeChannelMessage decodes C1. Message aliases b.
func DecodeChannelMessage(b []byte) (ChannelMessage, error) {
	var m ChannelMessage
	const what = "channel message"
	seen, err := decodeMap(what, b, func(r *reader, key []byte) (int, bool, error) {
		var err error
		switch string(key) {
		case "channel":
			m.Channel, err = r.text("channel")
			return 0, true, err
		case "seq":
			m.Seq, err = r.uint("seq")
			return 1, true, err
		case "timestamp":
			m.Timestamp, err = r.uint("timestamp")
			return 2, true, err
		case "message":
			m.Message, err = r.bytes("message")
			return 3, true, err
		}
		return 0, false, nil
	})
	if err == nil {
		err = missing(what, seen, "channel", "seq", "timestamp", "message")
	}
	if err != nil {
		return ChannelMessage{}, err
	}
	return m, nil
}

// ChannelControl is C2, a client's subscribe or unsubscribe request, carried in the message of a
// client service message (signed and numbered like any client message).
//
// Wire form: d9d9f7 a1 "subscribe": text | "unsubscribe": text; or d9d9f7 a2 "from": uint,
// "subscribe": text.
type ChannelControl struct {
	// Subscribe names the channel to subscribe to; Unsubscribe the one to leave. Exactly one is set.
	Subscribe, Unsubscribe string
	// From, with Subscribe and HasFrom, asks to resume at this seq (after a reconnection).
	From    uint64
	HasFrom bool
}

// Marshal encodes c.
func (c *ChannelControl) Marshal() []byte {
	b := make([]byte, 0, 32+len(c.Subscribe)+len(c.Unsubscribe))
	b = append(b, cbor.SelfDescribePrefix...)
	if c.Unsubscribe != "" {
		b = cbor.AppendHead(b, cbor.MajorMap, 1)
		b = cbor.AppendText(b, "unsubscribe")
		return cbor.AppendText(b, c.Unsubscribe)
	}
	if c.HasFrom {
		b = cbor.AppendHead(b, cbor.MajorMap, 2)
		b = cbor.AppendText(b, "from")
		b = appendUint(b, c.From)
	} else {
		b = cbor.AppendHead(b, cbor.MajorMap, 1)
	}
	b = cbor.AppendText(b, "subscribe")
	return cbor.AppendText(b, c.Subscribe)
}

// DecodeChannelControl decodes C2. Exactly one of subscribe and unsubscribe must be present, and
// from only with subscribe.
func DecodeChannelControl(b []byte) (ChannelControl, error) {
	var c ChannelControl
	const what = "channel control"
	seen, err := decodeMap(what, b, func(r *reader, key []byte) (int, bool, error) {
		var err error
		switch string(key) {
		case "subscribe":
			c.Subscribe, err = r.text("subscribe")
			return 0, true, err
		case "unsubscribe":
			c.Unsubscribe, err = r.text("unsubscribe")
			return 1, true, err
		case "from":
			c.From, err = r.uint("from")
			return 2, true, err
		}
		return 0, false, nil
	})
	if err != nil {
		return ChannelControl{}, err
	}
	switch {
	case seen&4 != 0 && seen&1 == 0 && seen&2 == 0:
		return ChannelControl{}, fmt.Errorf("%s: %w: \"from\" without \"subscribe\"", what, ErrMalformed)
	case seen&3 == 0:
		return ChannelControl{}, fmt.Errorf("%s: %w: \"subscribe\" or \"unsubscribe\"", what, ErrMissingField)
	case seen&3 == 3:
		return ChannelControl{}, fmt.Errorf("%s: %w: both \"subscribe\" and \"unsubscribe\"", what, ErrMalformed)
	case seen&4 != 0 && seen&1 == 0:
		return ChannelControl{}, fmt.Errorf("%s: %w: \"from\" without \"subscribe\"", what, ErrMalformed)
	}
	c.HasFrom = seen&4 != 0
	return c, nil
}

// ChannelHead is a channel's next sequence number.
type ChannelHead struct {
	// Channel is the name.
	Channel string
	// Head is one more than the seq of the last message published (0 before the first).
	Head uint64
}

// ChannelStatus is C3, the canister's word on a client's channels, carried in the message of a
// canister service message.
//
// Wire form: d9d9f7 map, keys in this order, each optional: "subscribed": text, "head": uint,
// "unsubscribed": text, "reason": text, "heads": map text → uint (sorted by name).
type ChannelStatus struct {
	// Subscribed confirms a subscription; the client's stream starts at Head.
	Subscribed string
	Head       uint64
	// Unsubscribed ends (or refuses) a subscription, for Reason.
	Unsubscribed string
	Reason       string
	// Heads are the next seqs of every channel the client is subscribed to, sorted by name.
	Heads []ChannelHead
}

// Marshal encodes s.
func (s *ChannelStatus) Marshal() []byte {
	n := uint64(0)
	size := 16 + len(s.Subscribed) + len(s.Unsubscribed) + len(s.Reason)
	if s.Subscribed != "" {
		n += 2
	}
	if s.Unsubscribed != "" {
		n += 2
	}
	if s.Heads != nil {
		n++
		for _, h := range s.Heads {
			size += len(h.Channel) + 11
		}
	}
	b := make([]byte, 0, size+40)
	b = append(b, cbor.SelfDescribePrefix...)
	b = cbor.AppendHead(b, cbor.MajorMap, n)
	if s.Subscribed != "" {
		b = cbor.AppendText(b, "subscribed")
		b = cbor.AppendText(b, s.Subscribed)
		b = cbor.AppendText(b, "head")
		b = appendUint(b, s.Head)
	}
	if s.Unsubscribed != "" {
		b = cbor.AppendText(b, "unsubscribed")
		b = cbor.AppendText(b, s.Unsubscribed)
		b = cbor.AppendText(b, "reason")
		b = cbor.AppendText(b, s.Reason)
	}
	if s.Heads != nil {
		b = cbor.AppendText(b, "heads")
		b = cbor.AppendHead(b, cbor.MajorMap, uint64(len(s.Heads)))
		for _, h := range s.Heads {
			b = cbor.AppendText(b, h.Channel)
			b = appendUint(b, h.Head)
		}
	}
	return b
}

// DecodeChannelStatus decodes C3. Heads must have distinct, valid channel names.
func DecodeChannelStatus(b []byte) (ChannelStatus, error) {
	var s ChannelStatus
	const what = "channel status"
	hasHeads := false
	seen, err := decodeMap(what, b, func(r *reader, key []byte) (int, bool, error) {
		var err error
		switch string(key) {
		case "subscribed":
			s.Subscribed, err = r.text("subscribed")
			return 0, true, err
		case "head":
			s.Head, err = r.uint("head")
			return 1, true, err
		case "unsubscribed":
			s.Unsubscribed, err = r.text("unsubscribed")
			return 2, true, err
		case "reason":
			s.Reason, err = r.text("reason")
			return 3, true, err
		case "heads":
			hasHeads = true
			s.Heads, err = r.heads()
			return 4, true, err
		}
		return 0, false, nil
	})
	if err != nil {
		return ChannelStatus{}, err
	}
	if (seen&1 != 0) != (seen&2 != 0) {
		return ChannelStatus{}, fmt.Errorf("%s: %w: \"subscribed\" and \"head\" go together", what, ErrMalformed)
	}
	if (seen&4 != 0) != (seen&8 != 0) {
		return ChannelStatus{}, fmt.Errorf("%s: %w: \"unsubscribed\" and \"reason\" go together", what, ErrMalformed)
	}
	if hasHeads && s.Heads == nil {
		s.Heads = []ChannelHead{}
	}
	return s, nil
}

// heads reads C3's heads map.
func (r *reader) heads() ([]ChannelHead, error) {
	major, n, err := r.headSkipSelfDescribe()
	if err != nil {
		return nil, fmt.Errorf("field \"heads\": %w", err)
	}
	if major != cbor.MajorMap {
		return nil, fmt.Errorf("field \"heads\": %w", r.errorf("want a map, got %s", majorName(major)))
	}
	if n > uint64(len(r.b)-r.off)/2 {
		return nil, fmt.Errorf("field \"heads\": %w", r.errorf("map of %d entries is longer than the input", n))
	}
	hs := make([]ChannelHead, 0, n)
	for i := uint64(0); i < n; i++ {
		name, err := r.text("heads")
		if err != nil {
			return nil, err
		}
		if err := ValidateChannel(name); err != nil {
			return nil, fmt.Errorf("field \"heads\": %w", err)
		}
		head, err := r.uint("heads")
		if err != nil {
			return nil, err
		}
		hs = append(hs, ChannelHead{Channel: name, Head: head})
	}
	slices.SortFunc(hs, func(a, b ChannelHead) int { return cmpString(a.Channel, b.Channel) })
	for i := 1; i < len(hs); i++ {
		if hs[i].Channel == hs[i-1].Channel {
			return nil, fmt.Errorf("field \"heads\": %w", r.errorf("channel %q twice", hs[i].Channel))
		}
	}
	return hs, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ChannelFrame is S8, one batch of one channel as the gateway writes it to every subscriber:
// values Vals[i] certified under ChannelKey(Channel, First+i), with one certificate and one
// witness.
//
// Wire form: a5 (no tag) "channel": text, "first": uint, "vals": array of bytes, "cert": bytes,
// "tree": bytes, in that order. It always starts with ChannelFramePrefix.
type ChannelFrame struct {
	// Channel is the channel's name.
	Channel string
	// First is the seq of Vals[0].
	First uint64
	// Vals are the C1 values, in seq order, 1 to MaxChannelVals of them.
	Vals [][]byte
	// Cert is the IC certificate of the canister's certified data.
	Cert []byte
	// Tree is the tagged hash tree Labeled("websocket", range witness of the batch's keys).
	Tree []byte
}

// ChannelFramePrefix is the first bytes of every S8: map(5), "channel". No S6 starts so.
const ChannelFramePrefix = "\xa5\x67channel"

// IsChannelFrame reports whether frame is an S8 (by its prefix).
func IsChannelFrame(frame []byte) bool { return bytes.HasPrefix(frame, []byte(ChannelFramePrefix)) }

// Size is the length of f's encoding.
func (f *ChannelFrame) Size() int {
	n := 1 + 8 + cbor.HeadLen(uint64(len(f.Channel))) + len(f.Channel) + 6 + cbor.HeadLen(f.First) + 5 + cbor.HeadLen(uint64(len(f.Vals)))
	for _, v := range f.Vals {
		n += cbor.HeadLen(uint64(len(v))) + len(v)
	}
	return n + CertTailSize(f.Cert, f.Tree)
}

// Marshal encodes f.
func (f *ChannelFrame) Marshal() []byte { return f.AppendCBOR(make([]byte, 0, f.Size())) }

// AppendCBOR appends the encoding of f to dst.
func (f *ChannelFrame) AppendCBOR(dst []byte) []byte {
	dst = cbor.AppendHead(dst, cbor.MajorMap, 5)
	dst = cbor.AppendText(dst, "channel")
	dst = cbor.AppendText(dst, f.Channel)
	dst = cbor.AppendText(dst, "first")
	dst = appendUint(dst, f.First)
	dst = cbor.AppendText(dst, "vals")
	dst = cbor.AppendHead(dst, cbor.MajorArray, uint64(len(f.Vals)))
	for _, v := range f.Vals {
		dst = cbor.AppendBytes(dst, v)
	}
	return AppendCertTail(dst, f.Cert, f.Tree)
}

// DecodeChannelFrame decodes S8 (tag optional). Vals, Cert and Tree alias b. The channel name
// must be valid and vals hold 1 to MaxChannelVals values.
func DecodeChannelFrame(b []byte) (ChannelFrame, error) {
	var f ChannelFrame
	const what = "channel frame"
	seen, err := decodeMap(what, b, func(r *reader, key []byte) (int, bool, error) {
		var err error
		switch string(key) {
		case "channel":
			f.Channel, err = r.text("channel")
			return 0, true, err
		case "first":
			f.First, err = r.uint("first")
			return 1, true, err
		case "vals":
			f.Vals, err = r.vals()
			return 2, true, err
		case "cert":
			f.Cert, err = r.bytes("cert")
			return 3, true, err
		case "tree":
			f.Tree, err = r.bytes("tree")
			return 4, true, err
		}
		return 0, false, nil
	})
	if err == nil {
		err = missing(what, seen, "channel", "first", "vals", "cert", "tree")
	}
	if err == nil {
		err = ValidateChannel(f.Channel)
	}
	if err == nil && f.First+uint64(len(f.Vals)) < f.First {
		err = fmt.Errorf("%s: %w: first %d + %d values overflows 64 bits", what, ErrMalformed, f.First, len(f.Vals))
	}
	if err != nil {
		return ChannelFrame{}, err
	}
	return f, nil
}

// vals reads S8's array of 1 to MaxChannelVals byte strings.
func (r *reader) vals() ([][]byte, error) {
	major, n, err := r.headSkipSelfDescribe()
	if err != nil {
		return nil, fmt.Errorf("field \"vals\": %w", err)
	}
	if major != cbor.MajorArray {
		return nil, fmt.Errorf("field \"vals\": %w", r.errorf("want an array, got %s", majorName(major)))
	}
	if n == 0 || n > MaxChannelVals {
		return nil, fmt.Errorf("field \"vals\": %w", r.errorf("%d values, want 1 to %d", n, MaxChannelVals))
	}
	if n > uint64(len(r.b)-r.off) {
		return nil, fmt.Errorf("field \"vals\": %w", r.errorf("array of %d items is longer than the input", n))
	}
	vs := make([][]byte, n)
	for i := range vs {
		if vs[i], err = r.bytes("vals"); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

// ChannelFrom is one channel of a ws_get_channel_messages request: its messages from seq From on.
type ChannelFrom struct {
	// Channel is the name.
	Channel string `candid:"channel"`
	// From is the first seq wanted.
	From uint64 `candid:"from"`
}

// ChannelBatch is one channel of a ws_get_channel_messages answer.
type ChannelBatch struct {
	// Channel is the name.
	Channel string `candid:"channel"`
	// First is the seq of Vals[0] (or, with no vals, the request's from).
	First uint64 `candid:"first"`
	// Head is the channel's next seq.
	Head uint64 `candid:"head"`
	// Vals are the C1 values from First on.
	Vals [][]byte `candid:"vals"`
	// Tree is the tagged witness of Vals' keys (empty with no vals).
	Tree []byte `candid:"tree"`
}

// ChannelMessages is the answer of ws_get_channel_messages.
type ChannelMessages struct {
	// Cert is the data certificate, shared by every batch (empty if no batch has vals).
	Cert []byte `candid:"cert"`
	// Channels are the batches, in request order, without the channels the caller may not read.
	Channels []ChannelBatch `candid:"channels"`
}

// ChannelCandid is the Candid of ws_get_channel_messages and its types, for a canister's
// interface (appended to CandidInterface's types by canisters with channels).
const ChannelCandid = `type ChannelFrom = record { channel: text; from: nat64; };
type ChannelBatch = record { channel: text; first: nat64; head: nat64; vals: vec blob; tree: blob; };
type ChannelMessages = record { cert: blob; channels: vec ChannelBatch; };
`
