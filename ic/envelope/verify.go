package envelope

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/icws/icws/ic/identity"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/ic/requestid"
)

// Ingress expiry window of the IC's validator: a request is accepted iff
// now <= ingress_expiry <= now + MaxIngressTTL + PermittedDrift.
const (
	MaxIngressTTL  = 5 * time.Minute
	PermittedDrift = 30 * time.Second
)

// ExpiryErrorPrefix starts the text of every ExpiryError. @dfinity/agent
// recognizes it in an HTTP 400 body and re-syncs its clock.
const ExpiryErrorPrefix = "Invalid request expiry: "

// ExpiryError reports an ingress_expiry outside the accepted window, or an
// expired sender delegation. A replica answers it with HTTP 400 and its
// Error() text as a text/plain body.
type ExpiryError struct {
	// Reason is the replica's message after the prefix.
	Reason string
}

// Error returns "Invalid request expiry: " followed by the reason, as the
// IC replica words it.
func (e *ExpiryError) Error() string { return ExpiryErrorPrefix + e.Reason }

// Sentinel causes of an AuthError, matched with errors.Is. Delegation and
// signature failures wrap the errors of package identity instead
// (identity.ErrInvalidSignature, identity.ErrDelegationCycle, ...).
var (
	// ErrMissingSignature: a non-anonymous sender without sender_pubkey and sender_sig.
	ErrMissingSignature = errors.New("missing signature")
	// ErrAnonymousSignature: the anonymous sender with a key and signature.
	ErrAnonymousSignature = errors.New("signature is not allowed for the anonymous user")
	// ErrSenderMismatch: sender is not the self-authenticating principal of sender_pubkey.
	ErrSenderMismatch = errors.New("sender does not match the public key")
	// ErrNotInTargets: the call's or query's canister_id is outside the delegation targets.
	ErrNotInTargets = errors.New("canister is not one of the delegation targets")
)

// AuthError reports a request that failed authentication. A replica answers
// it with HTTP 403 and its Error() text as a text/plain body:
// "Failed to authenticate request 0x<id> due to: <cause>".
type AuthError struct {
	RequestID requestid.ID
	Err       error
}

// Error returns the replica's 403 message.
func (e *AuthError) Error() string {
	return fmt.Sprintf("Failed to authenticate request 0x%s due to: %v", e.RequestID, e.Err)
}

// Unwrap returns the cause.
func (e *AuthError) Unwrap() error { return e.Err }

// CheckIngressExpiry returns an *ExpiryError unless
// now <= expiry <= now + MaxIngressTTL + PermittedDrift, worded like the IC
// replica's: "Invalid request expiry: Specified ingress_expiry not within
// expected range: Minimum allowed expiry: <t>, Maximum allowed expiry: <t>,
// Provided expiry:        <t>" with times as "2025-05-01 23:55:18.005285297 UTC".
func CheckIngressExpiry(expiry uint64, now time.Time) error {
	lo := timeNanos(now)
	hi := lo + uint64(MaxIngressTTL+PermittedDrift)
	if lo <= expiry && expiry <= hi {
		return nil
	}
	return &ExpiryError{Reason: fmt.Sprintf(
		"Specified ingress_expiry not within expected range: Minimum allowed expiry: %s, Maximum allowed expiry: %s, Provided expiry:        %s",
		formatICTime(lo), formatICTime(hi), formatICTime(expiry))}
}

// Verify authenticates the request at time now, in the IC validator's order:
//   - the ingress expiry window (CheckIngressExpiry) → *ExpiryError;
//   - an anonymous sender must carry no key and signature; any other sender
//     must, and must equal SelfAuthenticating(sender_pubkey) → *AuthError;
//   - the delegation chain (identity.VerifyDelegationChain); an expired
//     delegation → *ExpiryError, anything else → *AuthError;
//   - sender_sig over `\x0Aic-request` ‖ request id by the chain's last key
//     (or sender_pubkey) → *AuthError;
//   - for call and query, canister_id among the delegation targets
//     → *AuthError. For read_state, check the paths' canisters against
//     Targets() yourself.
func (r *Request) Verify(now time.Time) error {
	if err := CheckIngressExpiry(r.Content.IngressExpiry, now); err != nil {
		return err
	}
	if err := r.verifyAuth(now); err != nil {
		var de *identity.DelegationExpiredError
		if errors.As(err, &de) {
			return &ExpiryError{Reason: fmt.Sprintf(
				"Specified sender delegation has expired:\nProvided expiry:    %s\nLocal replica time: %s",
				formatICTime(de.Expiration), formatICTime(timeNanos(de.Now)))}
		}
		return &AuthError{RequestID: r.ID, Err: err}
	}
	return nil
}

func (r *Request) verifyAuth(now time.Time) error {
	sender := r.Content.Sender
	if r.SenderPubKey == nil {
		if sender.IsAnonymous() {
			return nil
		}
		return fmt.Errorf("%w from user %s", ErrMissingSignature, sender)
	}
	if sender.IsAnonymous() {
		return ErrAnonymousSignature
	}
	if want := principal.SelfAuthenticating(r.SenderPubKey); want != sender {
		return fmt.Errorf("%w: the user id %s does not match the public key %s", ErrSenderMismatch, sender, hex.EncodeToString(r.SenderPubKey))
	}
	key, err := identity.VerifyDelegationChain(r.SenderPubKey, r.SenderDelegation, now)
	if err != nil {
		return fmt.Errorf("invalid delegation: %w", err)
	}
	if err := identity.VerifySignature(key, r.ID.Signable(), r.SenderSig); err != nil {
		return fmt.Errorf("invalid signature: %w", err)
	}
	if !r.Content.isReadState() && !r.Targets().Contains(r.Content.CanisterID) {
		return fmt.Errorf("%w: canister %s", ErrNotInTargets, r.Content.CanisterID)
	}
	return nil
}

// Targets returns the canisters the request's delegation chain allows (all
// when it has none). It is meaningful after Verify succeeded.
func (r *Request) Targets() identity.Targets { return identity.ChainTargets(r.SenderDelegation) }

// IsAnonymous reports whether the request is sent by the anonymous principal.
func (r *Request) IsAnonymous() bool { return r.Content.Sender.IsAnonymous() }
