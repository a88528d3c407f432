// Reads a canister's history as DFINITY's client decodes it: calls info(target, opt n) of the
// controller canister (testdata/controller.mo, which returns canister_info's reply), with the
// canister_info result type of @icp-sdk/canisters' ic-management declarations.
// node history.mjs <replica URL> <controller id> <target id>; prints the changes as JSON.
import { Actor, HttpAgent } from '@icp-sdk/core/agent';
import { IDL } from '@icp-sdk/core/candid';
import { Principal } from '@icp-sdk/core/principal';

// The declarations are not among the package's exports: found beside its ic-management entry.
const { idlFactory } = await import(new URL('../declarations/ic-management/ic-management.idl.js',
  import.meta.resolve('@icp-sdk/canisters/ic-management')).href);

const [host, controller, target] = process.argv.slice(2);
const management = idlFactory({ IDL });
const info = management._fields.find(([name]) => name === 'canister_info');
if (!info) throw new Error('the ic-management declarations have no canister_info');
const result = info[1].retTypes[0];
const agent = await HttpAgent.create({ host, shouldFetchRootKey: true });
const actor = Actor.createActor(() => IDL.Service({
  info: IDL.Func([IDL.Principal, IDL.Opt(IDL.Nat64)], [result], []),
}), { agent, canisterId: controller });
const res = await actor.info(Principal.fromText(target), [20n]);
const opt = (o) => (o.length ? String(o[0]) : null);
console.log(JSON.stringify({
  total: String(res.total_num_changes),
  changes: res.recent_changes.map((c) => {
    const [kind, o] = Object.entries(c.origin)[0];
    return {
      version: String(c.canister_version),
      origin: kind,
      principal: (o.canister_id ?? o.user_id).toText(),
      senderVersion: kind === 'from_canister' ? opt(o.canister_version) : null,
      details: Object.keys(c.details)[0],
    };
  }),
}));
