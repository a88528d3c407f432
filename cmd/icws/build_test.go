package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icws/icws/ic/wasm"
)

// TestBuildSizeAndNames runs `icws build --size` and `icws build --keep-names` on echo: the
// first prints the breakdown and the sections it stripped, and its module has no name section;
// the second keeps the name section and prints no stripped line.
func TestBuildSizeAndNames(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args      []string
		want      []string
		names     bool
		forbidden string
	}{
		{[]string{"--size"}, []string{"  stripped go:buildid producers name (", "  size     ", "    code   ", "  code by package", "  runtime\n", "github.com/icws/icws/cdk/websocket\n", "(removed; --keep-names keeps it)"}, false, ""},
		{[]string{"--keep-names"}, []string{"  data     "}, true, "stripped"},
	} {
		out := filepath.Join(dir, strings.TrimPrefix(tc.args[0], "--")+".wasm")
		var stdout strings.Builder
		if err := runBuild(t.Context(), append(tc.args, "-o", out, "../../canisters/echo"), &stdout); err != nil {
			t.Fatalf("icws build %v: %v", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("icws build %v: no %q in\n%s", tc.args, w, stdout.String())
			}
		}
		if tc.forbidden != "" && strings.Contains(stdout.String(), tc.forbidden) {
			t.Errorf("icws build %v says %q:\n%s", tc.args, tc.forbidden, stdout.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		m, err := wasm.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.CustomSection("name"); ok != tc.names {
			t.Errorf("icws build %v: name section present %v, want %v", tc.args, ok, tc.names)
		}
	}
}
