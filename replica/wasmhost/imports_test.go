package wasmhost_test

import (
	"os"
	"strings"
	"testing"

	icwasm "github.com/icws/icws/ic/wasm"
)

// TestMotokoImportsDocumented compiles an actor with each npm moc and checks that every ic0
// import is one the host provides (ic/wasm's table) and that docs/IC0.md lists it.
func TestMotokoImportsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/IC0.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, mc := range compilers {
		t.Run(mc.name, func(t *testing.T) {
			m, err := icwasm.Decode(moc(t, mc.pkg, "counter.mo"))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, imp := range m.Imports {
				if imp.Module != "ic0" {
					t.Errorf("import %s.%s is not from ic0", imp.Module, imp.Name)
					continue
				}
				n++
				if _, ok := icwasm.LookupIC0(imp.Name); !ok {
					t.Errorf("ic0.%s is imported but the host does not provide it", imp.Name)
				}
				if !strings.Contains(string(doc), "`"+imp.Name+"`") {
					t.Errorf("ic0.%s is imported by %s but docs/IC0.md does not list it", imp.Name, mc.name)
				}
			}
			if n < 20 {
				t.Errorf("only %d ic0 imports: the module is not a Motoko canister", n)
			}
		})
	}
}
