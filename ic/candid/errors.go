package candid

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Every error of this package wraps one of them; test with errors.Is.
var (
	// ErrInvalid means the bytes are not a well-formed Candid message: bad magic, a malformed
	// type table, a truncated or overlong value, trailing bytes, invalid UTF-8 and the like.
	ErrInvalid = errors.New("candid: invalid message")
	// ErrTypeMismatch means a well-formed message holds a value that does not coerce to the
	// expected type (for example text where nat is expected, or a missing non-optional argument).
	ErrTypeMismatch = errors.New("candid: type mismatch")
	// ErrLimit means decoding gave up: the decoding cost quota or the nesting limit was reached.
	ErrLimit = errors.New("candid: decoding limit exceeded")
	// ErrUnsupportedType means a Go type has no Candid mapping (see the package documentation).
	ErrUnsupportedType = errors.New("candid: unsupported Go type")
	// ErrInvalidValue means a value cannot be encoded: invalid UTF-8 text, a variant struct
	// without exactly one alternative set, a value of type empty, a value that does not match
	// the given Type.
	ErrInvalidValue = errors.New("candid: invalid value")
)

// DecodeError describes why a message could not be decoded.
type DecodeError struct {
	// Offset is the position in the message where the problem was found.
	Offset int
	// Err is ErrInvalid, ErrTypeMismatch or ErrLimit.
	Err error

	// The message is formatted only when Error is called: mismatches under opt are expected
	// and discarded, and types can be large.
	format string
	args   []any
	path   []string // innermost first
}

// Error formats the error with its position, the path to the value and what was wrong.
func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	b.WriteString(" at byte ")
	b.WriteString(strconv.Itoa(e.Offset))
	if len(e.path) > 0 {
		b.WriteString(" (")
		for i := len(e.path) - 1; i >= 0; i-- {
			b.WriteString(e.path[i])
			if i > 0 {
				b.WriteString(" > ")
			}
		}
		b.WriteString(")")
	}
	b.WriteString(": ")
	fmt.Fprintf(&b, e.format, e.args...)
	return b.String()
}

// typeArg formats a type in an error message, shortened.
type typeArg struct{ n *node }

func (a typeArg) String() string { return Type(a).format(120) }

// codecArg formats the Candid type of a Go type in an error message, shortened.
type codecArg struct{ c *codec }

func (a codecArg) String() string {
	if a.c.node != nil {
		return Type{a.c.node}.format(120) + " (" + a.c.rt.String() + ")"
	}
	return a.c.ck.String() + " (" + a.c.rt.String() + ")"
}

// Unwrap returns the sentinel error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Path returns where in the value the problem was found, outermost first, such as
// ["argument 0", "field messages", "element 3"].
func (e *DecodeError) Path() []string {
	out := make([]string, len(e.path))
	for i, p := range e.path {
		out[len(out)-1-i] = p
	}
	return out
}

// withPath adds a path element (the enclosing one) to err if it is a *DecodeError.
func withPath(err error, elem string) error {
	if de, ok := err.(*DecodeError); ok {
		de.path = append(de.path, elem)
	}
	return err
}

func isMismatch(err error) bool {
	de, ok := err.(*DecodeError)
	return ok && de.Err == ErrTypeMismatch
}
