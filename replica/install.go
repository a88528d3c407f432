package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/icws/icws/ic/envelope"
	"github.com/icws/icws/ic/principal"
	"github.com/icws/icws/replica/wasmhost"
)

// eopSection is the metadata a Motoko module with enhanced orthogonal persistence carries
// (icp:private enhanced-orthogonal-persistence); such a module must be upgraded with
// wasm_memory_persistence = opt variant { keep }.
const eopSection = "enhanced-orthogonal-persistence"

// wasmHost returns the replica's Wasm host, made at the first Wasm install.
func (r *Replica) wasmHost(ctx context.Context) (wasmhost.Host, error) {
	if r.wasm != nil {
		return r.wasm, nil
	}
	h, err := wasmhost.New(ctx, wasmhost.Options{
		Limits:   r.limits,
		RootKey:  r.rootDER,
		Subnet:   r.subnetID,
		Logger:   r.log,
		CacheDir: r.cache,
	})
	if err != nil {
		return nil, fmt.Errorf("replica: the Wasm host: %w", err)
	}
	r.wasm = h
	return h, nil
}

// install runs install_code of wasm on c in the given mode. It is atomic: if any step fails or
// traps, c is as it was.
// origin is who asked, for c's history; its user or canister is the caller of the hooks.
func (r *Replica) install(ctx context.Context, c *canister, origin changeOrigin, mode installMode, wasm, arg []byte, now uint64) error {
	caller := originCaller(origin)
	upgrade := mode.Upgrade != nil
	var opt upgradeOption
	if upgrade && *mode.Upgrade != nil {
		opt = **mode.Upgrade
	}
	switch {
	case mode.Install != nil && c.inst != nil:
		return rejectf(envelope.CanisterError, "IC0538",
			"Canister %s cannot be installed because the canister is not empty. Try installing with mode='reinstall' or mode='upgrade' instead.", c.id)
	case upgrade && c.inst == nil:
		return rejectf(envelope.DestinationInvalid, errCanisterWasmModuleNotFound,
			"Canister %s has no module to upgrade; install one with mode='install'.", c.id)
	}
	host, err := r.wasmHost(ctx)
	if err != nil {
		return err
	}
	mod, err := host.Compile(ctx, wasm)
	if err != nil {
		var bad *wasmhost.InvalidModuleError
		if errors.As(err, &bad) {
			return rejectf(envelope.CanisterError, errCanisterInvalidWasm,
				"Error from Canister %s: Canister's Wasm module is not valid: %s", c.id, bad.Rule)
		}
		return rejectf(envelope.CanisterError, errCanisterInvalidWasm, "Error from Canister %s: Canister's Wasm module could not be compiled: %v", c.id, err)
	}
	info := mod.Info()
	_, eop := info.Metadata[eopSection]
	keep := opt.WasmMemoryPersistence != nil && opt.WasmMemoryPersistence.Keep != nil
	if upgrade {
		_, oldEOP := c.info.Metadata[eopSection]
		switch {
		case oldEOP && !keep:
			return rejectf(envelope.CanisterError, errCanisterContractViolation,
				"Missing upgrade option: Enhanced orthogonal persistence requires the `wasm_memory_persistence` upgrade option (mode = upgrade (opt record { wasm_memory_persistence = opt variant { keep } })).")
		case keep && !eop:
			return rejectf(envelope.CanisterError, errCanisterContractViolation,
				"Invalid upgrade option: wasm_memory_persistence = keep needs a module with enhanced orthogonal persistence, and this one has none; upgrade with replace.")
		}
	}

	old := c.inst
	var (
		inst   wasmhost.Instance
		saved  []byte // old's state before pre_upgrade, to restore if the upgrade fails
		stable []byte
	)
	if upgrade {
		skip := opt.SkipPreUpgrade != nil && *opt.SkipPreUpgrade
		if !skip && c.info.HasPreUpgrade {
			if saved, err = old.Snapshot(); err != nil {
				return fmt.Errorf("replica: upgrade of %s: %w", c.id, err)
			}
			res := c.exec(ctx, c.message(wasmhost.EntryPreUpgrade, caller, "", nil, now))
			if res.TrapKind != wasmhost.TrapNone {
				return upgradeTrap(c.id, "pre_upgrade", res)
			}
		}
		if keep {
			inst, err = mod.InstantiateKeep(ctx, old)
		} else {
			stable = old.Stable()
			inst, err = mod.Instantiate(ctx, stable)
		}
	} else {
		inst, err = mod.Instantiate(ctx, nil)
	}
	if err != nil {
		r.restoreOld(c, old, saved)
		return rejectf(envelope.CanisterError, errCanisterTrapped, "Error from Canister %s: Canister trapped while starting its module: %v", c.id, err)
	}

	// Run canister_init or canister_post_upgrade on the new instance, with c showing the new code.
	prevInst, prevInfo, prevModule, prevSize := c.inst, c.info, c.module, c.wasmSize
	prevData, prevTimer := c.certifiedData, c.timer
	c.inst, c.info, c.module, c.wasmSize = inst, info, mod, len(wasm)
	if !upgrade {
		c.certifiedData = nil
	}
	c.timer = 0
	prevLogs, prevLogBytes := c.logs, c.logBytes
	if !upgrade {
		c.clearLogs() // a reinstall purges the log; canister_init's own prints are the first records
	}
	entry, hook, has := wasmhost.EntryInit, "init", info.HasInit
	if upgrade {
		entry, hook, has = wasmhost.EntryPostUpgrade, "post_upgrade", info.HasPostUpgrade
	}
	if has {
		res := c.exec(ctx, c.message(entry, caller, "", arg, now))
		if res.TrapKind != wasmhost.TrapNone {
			_ = inst.Close(ctx)
			c.inst, c.info, c.module, c.wasmSize = prevInst, prevInfo, prevModule, prevSize
			c.certifiedData, c.timer = prevData, prevTimer
			if !upgrade { // the old log stays, with what the failed canister_init logged after it
				failed := c.logs
				c.logs, c.logBytes = prevLogs, prevLogBytes
				c.addLogs(failed)
			}
			r.restoreOld(c, old, saved)
			return upgradeTrap(c.id, hook, res)
		}
	}
	if old != nil && old != inst {
		if err := old.Close(ctx); err != nil {
			r.log.Warn("closing the replaced instance", "canister", c.label(), "err", err)
		}
	}
	c.certDirty = true
	if r.store != nil {
		c.pendingModule, c.fullNext = wasm, true
	}
	r.bump(c)
	c.recordChange(now, origin, deploymentChange(mode, info.Hash[:]))
	r.log.Info("canister code installed", "canister", c.label(), "id", c.id.String(),
		"mode", modeName(mode), "module_bytes", len(wasm), "wasm64", info.Wasm64)
	return nil
}

// restoreOld puts back old's state as it was before pre_upgrade.
func (r *Replica) restoreOld(c *canister, old wasmhost.Instance, saved []byte) {
	if saved == nil || old == nil {
		return
	}
	if err := old.Restore(saved); err != nil {
		r.log.Error("restoring a canister after a failed upgrade; its state may have the pre_upgrade changes", "canister", c.label(), "err", err)
	}
}

func upgradeTrap(id principal.Principal, hook string, res *wasmhost.Result) error {
	o := trapOutcome(id, res)
	return &mgmtError{code: o.rejectCode, ic: o.errorCode, msg: fmt.Sprintf("%s (in canister_%s; the canister is unchanged)", o.rejectMsg, hook)}
}

func modeName(m installMode) string {
	switch {
	case m.Install != nil:
		return "install"
	case m.Reinstall != nil:
		return "reinstall"
	default:
		return "upgrade"
	}
}

// installSpec creates and installs the i-th canister of Config.Canisters.
func (r *Replica) installSpec(ctx context.Context, i int, spec CanisterSpec, now uint64, id principal.Principal) error {
	switch {
	case spec.Name == "":
		return fmt.Errorf("replica: canister %d has no name", i)
	case r.byName[spec.Name] != nil:
		return fmt.Errorf("replica: two canisters are named %q", spec.Name)
	case spec.New == nil && spec.Wasm == nil:
		return fmt.Errorf("replica: canister %q has neither a constructor nor a Wasm module", spec.Name)
	case spec.New != nil && spec.Wasm != nil:
		return fmt.Errorf("replica: canister %q has both a constructor and a Wasm module; give one", spec.Name)
	}
	c := &canister{
		name:        spec.Name,
		id:          id,
		log:         r.log,
		controllers: slices.Clone(spec.Controllers),
		status:      wasmhost.StatusRunning,
		settings:    defaultSettings(),
	}
	c.recordChange(now, originOf(principal.Anonymous(), nil), creationChange(c.controllers))
	arg := spec.Arg
	if arg == nil {
		arg = emptyReply
	}
	if spec.New != nil {
		code := spec.New()
		if code == nil {
			return fmt.Errorf("replica: the constructor of canister %q returned nil", spec.Name)
		}
		n := newNative(spec.Name, code, r.log)
		c.inst, c.info = n, n.info
		c.recordChange(now, originOf(principal.Anonymous(), nil), deploymentChange(installMode{Install: &candidNull}, n.info.Hash[:]))
		if n.info.HasInit {
			if res := c.exec(ctx, c.message(wasmhost.EntryInit, principal.Anonymous(), "", arg, now)); res.TrapKind != wasmhost.TrapNone {
				return fmt.Errorf("replica: install: canister %s (%s) trapped in canister_init: %s", c.name, c.id, res.Trap)
			}
		}
	} else if err := r.install(ctx, c, originOf(principal.Anonymous(), nil), installMode{Install: &candidNull}, spec.Wasm, arg, now); err != nil {
		return fmt.Errorf("replica: install canister %q (%s): %w", spec.Name, c.id, err)
	}
	r.addCanister(c)
	r.byName[c.name] = c
	r.log.Info("canister installed", "name", c.name, "id", c.id.String())
	return nil
}

// closeCanisters releases the canisters' instances and the Wasm host, once rounds have stopped.
func (r *Replica) closeCanisters() {
	ctx := context.Background()
	for _, c := range r.order {
		if c.inst != nil {
			_ = c.inst.Close(ctx)
		}
	}
	if r.wasm != nil {
		_ = r.wasm.Close(ctx)
	}
	if r.store != nil {
		r.store.close()
	}
}
