package main

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/icws/icws/ic/bls"
)

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := runVersion(context.Background(), nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"icws ", "go " + runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH, "bls " + bls.Backend} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("icws version lacks %q:\n%s", want, out.String())
		}
	}
	info := &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-06T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	got := versionText(info, true)
	for _, want := range []string{"icws v1.2.3\n", "revision abc123 2026-12-06T10:00:00Z (modified)\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("versionText lacks %q:\n%s", want, got)
		}
	}
	if err := runVersion(context.Background(), []string{"x"}, &out); err == nil {
		t.Error("icws version x: no error")
	}
}
