package omnia

import (
	"strconv"

	"github.com/icws/icws/ic/candid"
)

// ServiceMessage is the content of a WebsocketMessage whose IsServiceMessage is true
// (WebsocketServiceMessageContent, a Candid variant). Exactly one field is set.
type ServiceMessage struct {
	// Open is the canister's first message on a connection.
	Open *OpenMessage
	// Ack is the canister's periodic acknowledgement.
	Ack *AckMessage
	// KeepAlive is the client's answer to an Ack.
	KeepAlive *KeepAliveMessage
	// Close is the canister's last message on a connection.
	Close *CloseMessage
}

// OpenMessage tells the client its connection is open (Candid `record { client_key: ClientKey }`).
type OpenMessage struct {
	// Key is the client's key, which the client checks against its own.
	Key ClientKey `candid:"client_key"`
}

// AckMessage tells the client which of its messages arrived (Candid `record {
// last_incoming_sequence_num: nat64 }`).
type AckMessage struct {
	// LastIncomingSequenceNum is the sequence number of the last client message received.
	LastIncomingSequenceNum uint64 `candid:"last_incoming_sequence_num"`
}

// KeepAliveMessage tells the canister the client is alive and what it received (Candid
// `record { last_incoming_sequence_num: nat64 }`).
type KeepAliveMessage struct {
	// LastIncomingSequenceNum is the sequence number of the last canister message received.
	LastIncomingSequenceNum uint64 `candid:"last_incoming_sequence_num"`
}

// CloseMessage tells the client the canister closed its connection (Candid `record { reason:
// CloseMessageReason }`).
type CloseMessage struct {
	// Reason says why.
	Reason CloseReason
}

// CloseReason is why the canister closed a connection (Candid `variant { WrongSequenceNumber;
// InvalidServiceMessage; KeepAliveTimeout; ClosedByApplication }`, each without data).
type CloseReason uint8

// Close reasons, the alternatives of CloseMessageReason.
const (
	// ReasonWrongSequenceNumber: a client message came with an unexpected sequence number.
	ReasonWrongSequenceNumber CloseReason = iota + 1
	// ReasonInvalidServiceMessage: the client sent a service message it may not send.
	ReasonInvalidServiceMessage
	// ReasonKeepAliveTimeout: the client sent no keep-alive in time.
	ReasonKeepAliveTimeout
	// ReasonClosedByApplication: the application closed the connection.
	ReasonClosedByApplication
)

// String returns the reason's Candid name.
func (r CloseReason) String() string {
	switch r {
	case ReasonWrongSequenceNumber:
		return "WrongSequenceNumber"
	case ReasonInvalidServiceMessage:
		return "InvalidServiceMessage"
	case ReasonKeepAliveTimeout:
		return "KeepAliveTimeout"
	case ReasonClosedByApplication:
		return "ClosedByApplication"
	}
	return "CloseReason(" + strconv.Itoa(int(r)) + ")"
}

// Kind returns the alternative that is set, or "" when none or more than one is.
func (m ServiceMessage) Kind() string {
	n, kind := 0, ""
	if m.Open != nil {
		n, kind = n+1, "OpenMessage"
	}
	if m.Ack != nil {
		n, kind = n+1, "AckMessage"
	}
	if m.KeepAlive != nil {
		n, kind = n+1, "KeepAliveMessage"
	}
	if m.Close != nil {
		n, kind = n+1, "CloseMessage"
	}
	if n != 1 {
		return ""
	}
	return kind
}

// serviceWire is ServiceMessage as Candid.
type serviceWire struct {
	Open      *OpenMessage      `candid:"OpenMessage,variant"`
	Ack       *AckMessage       `candid:"AckMessage,variant"`
	KeepAlive *KeepAliveMessage `candid:"KeepAliveMessage,variant"`
	Close     *closeWire        `candid:"CloseMessage,variant"`
}

type closeWire struct {
	Reason reasonWire `candid:"reason"`
}

type reasonWire struct {
	WrongSequenceNumber   *candid.Null `candid:"WrongSequenceNumber,variant"`
	InvalidServiceMessage *candid.Null `candid:"InvalidServiceMessage,variant"`
	KeepAliveTimeout      *candid.Null `candid:"KeepAliveTimeout,variant"`
	ClosedByApplication   *candid.Null `candid:"ClosedByApplication,variant"`
}
