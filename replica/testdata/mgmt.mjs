// Drives the replica's management canister with DFINITY's own client, @icp-sdk/canisters
// (IcManagementCanister) over @icp-sdk/core's HttpAgent, signing with a secp256k1 identity: node mgmt.mjs <replica URL> <module.wasm>.
// Prints one JSON object of what each step gave; errors are reported, not thrown.
import fs from 'node:fs';
import crypto from 'node:crypto';
import { Actor, HttpAgent } from '@icp-sdk/core/agent';
import { Ed25519KeyIdentity } from '@icp-sdk/core/identity';
import { Secp256k1KeyIdentity } from '@icp-sdk/core/identity/secp256k1';
import { IDL } from '@icp-sdk/core/candid';
import { IcManagementCanister, LogVisibility } from '@icp-sdk/canisters/ic-management';

const [host, wasmPath] = process.argv.slice(2);
const wasm = new Uint8Array(fs.readFileSync(wasmPath));
const noArgs = new Uint8Array(IDL.encode([], []));
const out = {};
const step = async (name, f) => {
  try { out[name] = await f(); } catch (e) { out[name] = { error: String(e?.message ?? e).slice(0, 600) }; }
};

// The controller signs with secp256k1, the key kind of icp-cli and dfx identities.
const me = Secp256k1KeyIdentity.generate();
const agent = await HttpAgent.create({ host, identity: me, shouldFetchRootKey: true });
const mgmt = IcManagementCanister.create({ agent });
const other = await HttpAgent.create({ host, identity: Ed25519KeyIdentity.generate(), shouldFetchRootKey: true });
const otherMgmt = IcManagementCanister.create({ agent: other });
const counter = (id) => Actor.createActor(({ IDL }) => IDL.Service({
  inc: IDL.Func([], [IDL.Nat], []),
  get: IDL.Func([], [IDL.Nat], ['query']),
}), { agent, canisterId: id });
const status = async (id) => {
  const s = await mgmt.canisterStatus({ canisterId: id });
  return { status: Object.keys(s.status)[0], moduleHash: s.module_hash.length ? Buffer.from(s.module_hash[0]).toString('hex') : null,
    controllers: s.settings.controllers.map((p) => p.toText()), version: String(s.version) };
};

out.principal = me.getPrincipal().toText();
let id;
await step('create', async () => { id = await mgmt.provisionalCreateCanisterWithCycles(); return id.toText(); });
await step('statusNew', () => status(id));
await step('otherStatus', () => otherMgmt.canisterStatus({ canisterId: id }));
await step('install', () => mgmt.installCode({ mode: { install: null }, canisterId: id, wasmModule: wasm, arg: noArgs }).then(() => 'ok'));
await step('inc', async () => String(await counter(id).inc()));
await step('statusInstalled', () => status(id));
const half = Math.floor(wasm.length / 2);
await step('chunkedUpgrade', async () => {
  const hashes = [await mgmt.uploadChunk({ canisterId: id, chunk: wasm.slice(0, half) }),
    await mgmt.uploadChunk({ canisterId: id, chunk: wasm.slice(half) })];
  const stored = (await mgmt.storedChunks({ canisterId: id })).length;
  await mgmt.installChunkedCode({ mode: { upgrade: [] }, targetCanisterId: id, chunkHashesList: hashes,
    wasmModuleHash: crypto.createHash('sha256').update(wasm).digest('hex'), arg: noArgs });
  await mgmt.clearChunkStore({ canisterId: id });
  return { stored };
});
await step('getAfterUpgrade', async () => String(await counter(id).get()));
// Canister logs: a trap logs its debug_print and the trap; fetch_canister_logs is a query of
// aaaaa-aa, for controllers only until log_visibility is public.
await step('trap', async () => {
  await Actor.createActor(({ IDL }) => IDL.Service({ incThenTrap: IDL.Func([], [], []) }), { agent, canisterId: id }).incThenTrap();
  return 'no trap';
});
const logs = async (m) => (await m.fetchCanisterLogs(id)).canister_log_records
  .map((r) => ({ idx: String(r.idx), content: Buffer.from(r.content).toString() }));
await step('logs', () => logs(mgmt));
await step('otherLogs', () => logs(otherMgmt));
await step('publicLogs', async () => {
  await mgmt.updateSettings({ canisterId: id, settings: { logVisibility: LogVisibility.Public } });
  return (await logs(otherMgmt)).length;
});
await step('updateSettings', async () => {
  await mgmt.updateSettings({ canisterId: id, settings: { controllers: [me.getPrincipal().toText(), other.getPrincipal ? (await other.getPrincipal()).toText() : ''] } });
  return (await otherMgmt.canisterStatus({ canisterId: id })).settings.controllers.length;
});
await step('stop', async () => { await mgmt.stopCanister(id); return (await status(id)).status; });
await step('callStopped', async () => String(await counter(id).inc()));
await step('start', async () => { await mgmt.startCanister(id); return String(await counter(id).inc()); });
await step('uninstall', async () => { await mgmt.uninstallCode({ canisterId: id }); return (await status(id)).moduleHash; });
await step('delete', async () => { await mgmt.stopCanister(id); await mgmt.deleteCanister(id); return 'ok'; });
await step('statusDeleted', () => status(id));
console.log(JSON.stringify(out));
