package instrument

import (
	"testing"

	"github.com/icws/icws/ic/wasm"
)

// FuzzInstrument: a module that decodes either fails to instrument with an error or gives a
// module that decodes again.
func FuzzInstrument(f *testing.F) {
	f.Add(countModule)
	f.Add(loopModule)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := wasm.Decode(b)
		if err != nil {
			return
		}
		if err := Instrument(m); err != nil {
			return
		}
		if _, err := wasm.Decode(m.Encode()); err != nil {
			t.Fatalf("instrumented module does not decode: %v", err)
		}
	})
}
