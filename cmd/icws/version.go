package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/icws/icws/ic/bls"
)

// runVersion is `icws version`: what was built, from which source, with what.
func runVersion(_ context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q (icws version takes none)", args)
	}
	fmt.Fprint(stdout, versionText(debug.ReadBuildInfo()))
	return nil
}

// versionText formats the build information (ok is false when the binary has none).
func versionText(info *debug.BuildInfo, ok bool) string {
	version, revision, when, modified := "(devel)", "unknown", "", ""
	if ok {
		if v := info.Main.Version; v != "" {
			version = v
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				when = " " + s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
	}
	return fmt.Sprintf("icws %s\nrevision %s%s%s\ngo %s %s/%s\nbls %s\n",
		version, revision, when, modified, runtime.Version(), runtime.GOOS, runtime.GOARCH, bls.Backend)
}
