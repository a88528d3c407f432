package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/icws/icws/cdk/build"
)

// runBuild is `icws build`: a Go canister package becomes an IC Wasm module.
func runBuild(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("icws build", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	out := fs.String("o", "", "`FILE` to write the module to (default: <package name>.wasm, or .wasm.gz with --gzip)")
	gz := fs.Bool("gzip", false, "gzip the module (the IC and icws replica accept both)")
	candidFile := fs.String("candid", "", "`FILE.did` to publish as the module's candid:service metadata (default: the canister's Candid field)")
	didOut := fs.String("did", "", "`FILE` to write the canister's Candid interface to (for icp-cli or dfx)")
	keepNames := fs.Bool("keep-names", false, "keep the custom sections the IC does not read (name section, producers, go:buildid), removed by default")
	size := fs.Bool("size", false, "print where the module's bytes go: code, data, custom sections, and code by Go package")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: icws build [flags] ./path/to/canister\n\nCompiles a Go canister package (a package with func New() *cdk.Canister) to an IC Wasm module.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("name one canister package, e.g. icws build ./canisters/echo (got %d arguments)", fs.NArg())
	}
	opts := build.Options{Package: fs.Arg(0), Gzip: *gz, KeepNames: *keepNames, Size: *size}
	if *candidFile != "" {
		b, err := os.ReadFile(*candidFile)
		if err != nil {
			return fmt.Errorf("--candid: %w", err)
		}
		opts.Candid = string(b)
	}
	res, err := build.Build(ctx, opts)
	if err != nil {
		// main says "icws build: " already.
		err = prefixless{err, build.ErrBuild.Error() + ": "}
		if errors.Is(err, build.ErrNoPackage) {
			return fmt.Errorf("%w\n(name a package of the Go module around this folder, such as ./shout; run go mod init first in a new folder)", err)
		}
		return err
	}
	path := *out
	if path == "" {
		path = filepath.Base(res.ImportPath) + ".wasm"
		if *gz {
			path += ".gz"
		}
	}
	if err := os.WriteFile(path, res.Wasm, 0o644); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	if *didOut != "" {
		if res.Candid == "" {
			return fmt.Errorf("--did: the canister has no Candid interface (set cdk.Canister.Candid, or pass --candid)")
		}
		if err := os.WriteFile(*didOut, []byte(res.Candid), 0o644); err != nil {
			return fmt.Errorf("--did: %w", err)
		}
	}
	fmt.Fprintf(stdout, "%s: %d bytes", path, len(res.Wasm))
	if *gz {
		fmt.Fprintf(stdout, " (%d uncompressed)", res.RawSize)
	}
	fmt.Fprintf(stdout, "\n  package  %s\n  updates  %s\n  queries  %s\n", res.ImportPath, strings.Join(res.Updates, " "), strings.Join(res.Queries, " "))
	var entries []string
	for _, e := range res.Entries {
		if !strings.Contains(e.Export, " ") {
			entries = append(entries, e.Export)
		}
	}
	fmt.Fprintf(stdout, "  entries  %s\n  imports  ic0: %s\n  data     %d segments (from %d); %d WASI imports replaced\n",
		strings.Join(entries, " "), strings.Join(res.Link.ImportsIC0, " "), res.Link.DataAfter, res.Link.DataBefore, len(res.Link.WASIReplaced))
	if len(res.Link.Stripped) > 0 {
		fmt.Fprintf(stdout, "  stripped %s (%d bytes; --keep-names keeps them)\n", strings.Join(res.Link.Stripped, " "), res.Link.StrippedBytes)
	}
	if res.Size != nil {
		res.Size.Print(stdout, 25)
	}
	if res.Candid == "" {
		fmt.Fprintln(stdout, "  warning  no Candid interface: set cdk.Canister.Candid so tools (icp-cli, ic-wasm) know the methods' types")
	}
	return nil
}

// prefixless is an error with a prefix of its text dropped, which main's "icws <command>: "
// says already (package client's "client: ", package build's "icws build: ").
type prefixless struct {
	err    error
	prefix string
}

func (e prefixless) Error() string { return strings.TrimPrefix(e.err.Error(), e.prefix) }
func (e prefixless) Unwrap() error { return e.err }
