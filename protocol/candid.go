package protocol

// Message is one queued canister message as ws_get_messages returns it (Candid
// `record { client_id: nat64; key: text; val: blob }`).
type Message struct {
	// ClientID is the client the message is for.
	ClientID uint64 `candid:"client_id"`
	// Key is the message's key in the certified map (see KeyFor).
	Key string `candid:"key"`
	// Val is the message, S4 in the canister encoding; its SHA-256 is certified under Key.
	Val []byte `candid:"val"`
}

// CertMessages is the result of ws_get_messages (Candid
// `record { messages: vec Message; cert: blob; tree: blob }`): a batch of messages and one
// certificate and one witness that cover all of them. Cert and Tree are empty when Messages is.
type CertMessages struct {
	// Messages are the batch, in key order.
	Messages []Message `candid:"messages"`
	// Cert is the IC data certificate of the canister's certified data.
	Cert []byte `candid:"cert"`
	// Tree is the tagged CBOR hash tree Labeled("websocket", range witness of the batch's keys).
	Tree []byte `candid:"tree"`
}

// Candid method names and types of the canister interface, exactly the seed's (minus ws_wipe).
const (
	MethodRegister     = "ws_register"       // (blob) -> (nat64)
	MethodGetClientKey = "ws_get_client_key" // (nat64) -> (blob) query
	MethodOpen         = "ws_open"           // (blob, blob) -> (bool)
	MethodClose        = "ws_close"          // (nat64) -> ()
	MethodGetMessages  = "ws_get_messages"   // (nat64, opt nat64) -> (CertMessages) query; the opt is icws's (§13.3)
	MethodMessage      = "ws_message"        // (blob) -> (bool)
	MethodStats        = "ws_stats"          // () -> (Stats) query; icws addition
)

// CandidInterface is the canister's service description.
const CandidInterface = `type Message = record { client_id: nat64; key: text; val: blob; };
type CertMessages = record { messages: vec Message; cert: blob; tree: blob; };
type Stats = record {
  clients: nat64; open_clients: nat64; gateways: nat64; queued: nat64;
  sent: nat64; received: nat64; dropped_overflow: nat64; dropped_expired: nat64;
  dropped_closed: nat64; acknowledged: nat64; rejected: nat64;
  detached_clients: nat64; detach_expired: nat64;
};
service : {
  "ws_register": (blob) -> (nat64);
  "ws_get_client_key": (nat64) -> (blob) query;
  "ws_open": (blob, blob) -> (bool);
  "ws_close": (nat64) -> ();
  "ws_get_messages": (nat64, opt nat64) -> (CertMessages) query;
  "ws_message": (blob) -> (bool);
  "ws_stats": () -> (Stats) query;
}
`

// Stats is the result of ws_stats: aggregate counters of the canister library, public because
// they reveal nothing about any one client.
type Stats struct {
	// Clients is the number of registered clients (open or not).
	Clients uint64 `candid:"clients"`
	// OpenClients is the number of clients bound to a gateway.
	OpenClients uint64 `candid:"open_clients"`
	// Gateways is the number of gateways with a queue.
	Gateways uint64 `candid:"gateways"`
	// Queued is the number of messages in all gateway queues.
	Queued uint64 `candid:"queued"`
	// Sent counts messages queued since install.
	Sent uint64 `candid:"sent"`
	// Received counts client messages accepted since install.
	Received uint64 `candid:"received"`
	// DroppedOverflow counts messages dropped, oldest first, because a gateway's queue was full.
	DroppedOverflow uint64 `candid:"dropped_overflow"`
	// DroppedExpired counts messages deleted by garbage collection (older than the TTL). They may
	// or may not have been fetched.
	DroppedExpired uint64 `candid:"dropped_expired"`
	// DroppedClosed counts queued messages deleted because their client was closed.
	DroppedClosed uint64 `candid:"dropped_closed"`
	// Acknowledged counts queued messages deleted early because their client acknowledged them
	// in a keep-alive.
	Acknowledged uint64 `candid:"acknowledged"`
	// Rejected counts client messages refused (bad signature, replay, reorder) and first
	// messages refused (bad signature, an open_nonce that is not fresh).
	Rejected uint64 `candid:"rejected"`
	// DetachedClients is the number of open clients whose gateway called ws_close: their queue is
	// kept for a grace period, waiting for them to reopen through any gateway.
	DetachedClients uint64 `candid:"detached_clients"`
	// DetachExpired counts detached clients closed because the grace period passed.
	DetachExpired uint64 `candid:"detach_expired"`
}
