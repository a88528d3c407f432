package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// startProfiles starts CPU profiles of the given server processes and of the bench process (the
// load) into o.ProfileDir, named <name>-<role>.pprof, if o.ProfileDir is set. The returned
// function stops them.
func startProfiles(ctx context.Context, o *Options, name string, servers ...*server) (stop func() error, err error) {
	if o.ProfileDir == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
		return nil, err
	}
	var running []*server
	stopAll := func() error {
		var errs []error
		for _, s := range running {
			if _, err := s.command(context.WithoutCancel(ctx), "stop-profile"); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for _, s := range servers {
		if s == nil {
			continue
		}
		path, err := filepath.Abs(filepath.Join(o.ProfileDir, name+"-"+s.role+".pprof"))
		if err != nil {
			return nil, errors.Join(err, stopAll())
		}
		if _, err := s.command(ctx, "profile "+path); err != nil {
			return nil, errors.Join(err, stopAll())
		}
		running = append(running, s)
	}
	f, err := os.Create(filepath.Join(o.ProfileDir, name+"-load.pprof"))
	if err != nil {
		return nil, errors.Join(err, stopAll())
	}
	self := pprof.StartCPUProfile(f) == nil // fails if the process is profiled already
	if !self {
		f.Close()
		os.Remove(f.Name())
	}
	return func() error {
		err := stopAll()
		if self {
			pprof.StopCPUProfile()
			err = errors.Join(err, f.Close())
		}
		return err
	}, nil
}
