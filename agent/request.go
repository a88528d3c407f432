package agent

import (
	"crypto/rand"
	"fmt"

	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// Request types of the IC HTTP interface.
const (
	requestCall      = envelope.RequestTypeCall
	requestQuery     = envelope.RequestTypeQuery
	requestReadState = envelope.RequestTypeReadState
)

// nonceSize is the length of the random nonce every call carries, as agent-js sends it. It makes
// two identical calls distinct requests.
const nonceSize = 16

// signed is a request ready to be sent.
type signed struct {
	id     requestid.ID
	body   []byte // CBOR envelope
	expiry uint64 // ingress_expiry, ns since the epoch
}

// sign builds the content of a request, signs it with the agent's identity and encodes it.
func (a *Agent) sign(kind string, canister principal.Principal, method string, arg []byte, paths [][][]byte) (signed, error) {
	c := envelope.Content{
		RequestType:   kind,
		Sender:        a.sender,
		IngressExpiry: a.ingressExpiryNanos(),
	}
	switch kind {
	case requestCall, requestQuery:
		c.CanisterID = canister
		c.MethodName = method
		c.Arg = arg
		if c.Arg == nil {
			c.Arg = []byte{}
		}
		if kind == requestCall {
			c.Nonce = make([]byte, nonceSize)
			if _, err := rand.Read(c.Nonce); err != nil {
				return signed{}, fmt.Errorf("agent: making a nonce: %w", err)
			}
		}
	case requestReadState:
		c.Paths = paths
		if c.Paths == nil {
			c.Paths = [][][]byte{}
		}
	}
	env, err := envelope.Sign(a.id, c)
	if err != nil {
		return signed{}, fmt.Errorf("agent: signing the %s request: %w", kind, err)
	}
	body, err := env.Marshal()
	if err != nil {
		return signed{}, fmt.Errorf("agent: encoding the %s request: %w", kind, err)
	}
	return signed{id: env.RequestID(), body: body, expiry: c.IngressExpiry}, nil
}

// canisterPath returns "/api/<version>/canister/<ecid>/<endpoint>".
func canisterPath(version string, ecid principal.Principal, endpoint string) string {
	return "/api/" + version + "/canister/" + ecid.String() + "/" + endpoint
}

// subnetPath returns "/api/<version>/subnet/<subnet id>/<endpoint>".
func subnetPath(version string, subnet principal.Principal, endpoint string) string {
	return "/api/" + version + "/subnet/" + subnet.String() + "/" + endpoint
}
