// Package cbor holds the Internet Computer's CBOR conventions, on github.com/fxamacker/cbor/v2.
//
// Everything the IC sends starts with the self-describe tag 55799 (bytes d9 d9 f7); byte strings
// are CBOR byte strings; records are maps with text keys; there are no floats and no other tags.
// Marshal writes that form, with struct fields in declaration order. Unmarshal reads the same and
// is strict about what outside peers may send: duplicate map keys, indefinite lengths, nesting
// deeper than 64 levels and trailing bytes are refused. Tag 55799 is skipped wherever it stands.
package cbor

import (
	"errors"
	"fmt"
	"reflect"

	fxcbor "github.com/fxamacker/cbor/v2"
)

// SelfDescribeTag is CBOR tag 55799, which marks data as CBOR.
const SelfDescribeTag = 55799

// SelfDescribePrefix is the encoding of SelfDescribeTag: the first three bytes of IC messages.
const SelfDescribePrefix = "\xd9\xd9\xf7"

// MaxNesting is the deepest nesting of arrays and maps that Unmarshal accepts.
const MaxNesting = 64

// RawMessage is a raw encoded CBOR value; it delays decoding or keeps exact bytes.
type RawMessage = fxcbor.RawMessage

// ErrDecode is wrapped by every error of Unmarshal.
var ErrDecode = errors.New("cbor")

// modes holds the encoder and decoder; it is built once per process and never changes.
type modes struct {
	enc fxcbor.EncMode
	dec fxcbor.DecMode
}

func newModes() modes {
	enc, err := fxcbor.EncOptions{
		Sort:                 fxcbor.SortNone, // struct fields in declaration order, as serde_cbor writes them
		ShortestFloat:        fxcbor.ShortestFloatNone,
		Time:                 fxcbor.TimeUnix,
		BigIntConvert:        fxcbor.BigIntConvertShortest,
		ByteArray:            fxcbor.ByteArrayToByteSlice,
		NilContainers:        fxcbor.NilContainerAsNull,
		String:               fxcbor.StringToTextString,
		ByteSliceLaterFormat: fxcbor.ByteSliceLaterFormatNone,
	}.EncMode()
	if err != nil {
		panic(err) // static options; cannot fail
	}
	dec, err := fxcbor.DecOptions{
		DupMapKey:       fxcbor.DupMapKeyEnforcedAPF,
		IndefLength:     fxcbor.IndefLengthForbidden,
		MaxNestedLevels: MaxNesting,
		DefaultMapType:  reflect.TypeOf(map[string]any(nil)),
		IntDec:          fxcbor.IntDecConvertNone,
		TagsMd:          fxcbor.TagsAllowed,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return modes{enc: enc, dec: dec}
}

var std = newModes()

// Marshal returns the encoding of v preceded by the self-describe tag.
func Marshal(v any) ([]byte, error) {
	b, err := std.enc.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(SelfDescribePrefix)+len(b))
	out = append(out, SelfDescribePrefix...)
	return append(out, b...), nil
}

// MarshalUntagged returns the encoding of v without the self-describe tag.
func MarshalUntagged(v any) ([]byte, error) {
	return std.enc.Marshal(v)
}

// Unmarshal decodes data into v. A leading self-describe tag is optional. Generic maps decode as
// map[string]any, so maps whose keys are not text are refused.
func Unmarshal(data []byte, v any) error {
	if err := checkTags(data); err != nil {
		return err
	}
	if err := std.dec.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return nil
}

// Valid reports whether data is one well-formed CBOR value within the limits of Unmarshal.
func Valid(data []byte) error {
	if err := checkTags(data); err != nil {
		return err
	}
	if err := std.dec.Wellformed(data); err != nil {
		return fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return nil
}
