// Drives the official JavaScript agent (@dfinity/agent 3.x) against an icws replica and prints
// one JSON object with what it saw. Run by replica's TestJSAgent:
//
//   node agent.mjs <replica URL> <canister id>
//
// The canister is the replica package's test canister (see testcanister_test.go).
import {
  Actor,
  CanisterStatus,
  HttpAgent,
  RejectError,
  polling,
} from '@dfinity/agent';
import { IDL } from '@dfinity/candid';
import { Ed25519KeyIdentity } from '@dfinity/identity';
import { Principal } from '@dfinity/principal';

const [host, canisterText] = process.argv.slice(2);
if (!host || !canisterText) {
  console.error('usage: node agent.mjs <replica URL> <canister id>');
  process.exit(2);
}
const canisterId = Principal.fromText(canisterText);

const idlFactory = ({ IDL }) =>
  IDL.Service({
    inc: IDL.Func([], [IDL.Nat64], []),
    reject: IDL.Func([IDL.Text], [], []),
    inc_then_trap: IDL.Func([IDL.Text], [], []),
    whoami: IDL.Func([], [IDL.Principal], []),
    get: IDL.Func([], [IDL.Nat64], ['query']),
    greet: IDL.Func([IDL.Text], [IDL.Text], ['query']),
    nope: IDL.Func([], [], ['query']),
  });

// describe turns an agent error into plain data.
function describe(e) {
  const code = e?.cause?.code ?? {};
  return {
    name: e?.name,
    isReject: e instanceof RejectError,
    certified: Boolean(code.isCertified),
    codeName: code.name,
    rejectCode: code.rejectCode === undefined ? null : Number(code.rejectCode),
    rejectMessage: code.rejectMessage ?? null,
    errorCode: code.rejectErrorCode ?? null,
    message: String(e?.message ?? e).split('\n')[0],
  };
}

// pollStrategy polls quickly, for at most 20 seconds.
const pollStrategy = () =>
  polling.strategy.chain(polling.strategy.backoff(20, 1.2), polling.strategy.timeout(20000));

const out = {};
const timings = {};
const step = async (name, f) => {
  const start = Date.now();
  try {
    out[name] = await f();
  } catch (e) {
    out[name] = { error: describe(e) };
  }
  timings[name] = Date.now() - start;
};

const identity = Ed25519KeyIdentity.generate();
out.principal = identity.getPrincipal().toText();
const agent = await HttpAgent.create({
  host,
  identity,
  shouldFetchRootKey: true,
  verifyQuerySignatures: true,
  retryTimes: 0,
});
out.rootKeyLength = agent.rootKey?.length ?? 0;
const actor = Actor.createActor(idlFactory, { agent, canisterId });

// Updates through the v3 synchronous call.
await step('inc1', async () => (await actor.inc()).toString());
await step('inc2', async () => (await actor.inc()).toString());
await step('whoami', async () => (await actor.whoami()).toText());

// Queries, with query signature verification on (the default, set explicitly above).
await step('get', async () => (await actor.get()).toString());
await step('greet', async () => await actor.greet('agent-js'));

// Rejects: certified (update) and signed (query).
const rejectText = 'Nope: ünïcödé, "quotes", \'apostrophes\'\nand a second line';
out.rejectText = rejectText;
await step('reject', async () => {
  await actor.reject(rejectText);
  return 'no error';
});
await step('trap', async () => {
  await actor.inc_then_trap('trapped on purpose');
  return 'no error';
});
await step('queryReject', async () => {
  await actor.nope();
  return 'no error';
});

// read_state of /time, and of the subnet (node keys), through CanisterStatus.
await step('time', async () => {
  const status = await CanisterStatus.request({ canisterId, agent, paths: ['time'] });
  const t = status.get('time');
  return { ms: t instanceof Date ? t.getTime() : null };
});
await step('subnet', async () => {
  const status = await CanisterStatus.request({ canisterId, agent, paths: ['subnet'] });
  const s = status.get('subnet');
  return { subnetId: s.subnetId, nodeCount: s.nodeKeys.size };
});
// /time on a canister id this replica does not host (agent-js syncs its clock there).
await step('syncTime', async () => {
  await agent.syncTime(Principal.fromText('ryjl3-tyaaa-aaaaa-aaaba-cai'));
  return 'ok';
});

// The v2 asynchronous call: 202, then read_state polling.
await step('asyncInc', async () => {
  const { requestId, response } = await agent.call(canisterId, {
    methodName: 'inc',
    arg: IDL.encode([], []),
    callSync: false,
  });
  const { reply } = await polling.pollForResponse(agent, canisterId, requestId, {
    strategy: pollStrategy(),
  });
  const [n] = IDL.decode([IDL.Nat64], reply);
  return { status: response.status, value: n.toString() };
});
await step('asyncReject', async () => {
  const { requestId, response } = await agent.call(canisterId, {
    methodName: 'reject',
    arg: IDL.encode([IDL.Text], [rejectText]),
    callSync: false,
  });
  try {
    await polling.pollForResponse(agent, canisterId, requestId, {
      strategy: pollStrategy(),
    });
    return 'no error';
  } catch (e) {
    return { status: response.status, error: describe(e) };
  }
});
await step('getAfter', async () => (await actor.get()).toString());

out.timingsMs = timings;
console.log(JSON.stringify(out));
