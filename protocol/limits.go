package protocol

import "time"

// Flow control between clients and gateways (docs/PROTOCOL.md §7.1). A gateway passes a client's
// frames to the canister one ws_message call at a time, in order; a client that sends faster than
// that builds a backlog at the gateway, which the gateway bounds by closing the client with
// CloseRateLimited. These constants are the allowances every gateway gives at least (a gateway's
// configuration may be more generous, never less), and the pacing every icws client keeps to, so
// that a client in normal use is never closed for sending too fast.
const (
	// MaxPendingFrames is how many frames of one client a gateway accepts that the canister has
	// not yet accepted (waiting for ws_message, or in the call). A client keeps the frames it has
	// written and the canister has not acknowledged (§6: a service message's ack) at most this
	// many: it writes the frame with sequence number n only when n < ack + MaxPendingFrames.
	MaxPendingFrames = 16
	// MaxPendingBytes bounds the bytes of those frames (twice the largest frame a gateway must
	// accept, the IC's 2 MiB ingress limit): a client writes a frame only if it fits with the
	// unacknowledged ones written before it, or if none is.
	MaxPendingBytes = 4 << 20
	// MessageRate is the sustained rate, in frames per second, that a gateway accepts from one
	// client connection; MessageBurst is the burst above it (a token bucket of MessageBurst
	// tokens refilled at MessageRate per second, full when the connection opens, charged for
	// every frame after the first message). Clients keep to a bucket of half that burst at the
	// same rate: the gateway counts frames as it reads them, and the other half absorbs the
	// bunching of frames on the way.
	MessageRate = 20
	// MessageBurst: see MessageRate.
	MessageBurst = 40
	// AckInterval is how many client messages a canister accepts, at most, from a client that
	// opted in to service messages (§6) before it queues an acknowledgement for it, so that a
	// client sending steadily learns in time that its frames left the gateway. It is half of
	// MaxPendingFrames, which keeps the window open while the acknowledgement travels.
	AckInterval = MaxPendingFrames / 2
	// FallbackInterval paces a client that has not (yet) seen an acknowledgement from the
	// canister (a canister that sends no service messages): beyond the first MaxPendingFrames
	// frames, it writes at most one frame per FallbackInterval, about the time one IC update
	// call takes, so that the gateway's backlog does not grow.
	FallbackInterval = 2 * time.Second
)
