package cbor

import (
	"fmt"
	"math/big"
)

// Kind names the kind of a value decoded by Unmarshal into an `any` ("a blob", "text", "a nat",
// "a map", ...), for error messages about generic CBOR such as request contents.
func Kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []byte:
		return "a blob"
	case string:
		return "text"
	case uint64:
		return "a nat"
	case int64:
		return "a negative int"
	case big.Int, *big.Int:
		return "a big number"
	case bool:
		return "a bool"
	case []any:
		return "an array"
	case map[string]any:
		return "a map"
	case float32, float64:
		return "a float"
	default:
		return fmt.Sprintf("%T", v)
	}
}
