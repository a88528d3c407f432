package omnia

import "time"

// Constants of ic-websocket-cdk 0.4 that both ends rely on.
const (
	// DefaultMaxReturnedMessages is how many messages one ws_get_messages returns at most.
	DefaultMaxReturnedMessages = 50
	// DefaultAckInterval is how often the canister sends each client an Ack; ic-websocket-js's
	// ackMessageIntervalMs must equal it.
	DefaultAckInterval = 300 * time.Second
	// CommunicationLatencyBound is the time allowed for a message to travel one way.
	CommunicationLatencyBound = 30 * time.Second
	// KeepAliveTimeout is how long after an Ack the canister waits for the client's KeepAlive.
	KeepAliveTimeout = 2 * CommunicationLatencyBound
	// MinAckInterval is the shortest ack interval the CDK accepts (exclusive).
	MinAckInterval = KeepAliveTimeout
	// OldMessagesDeletedPerSend is how many expired messages each send removes from its gateway's
	// queue at most.
	OldMessagesDeletedPerSend = 5
	// TreeLabel is the label of the certified tree under the canister's certified data.
	TreeLabel = "websocket"
)
