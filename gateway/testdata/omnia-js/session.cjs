// One IcWebSocket session of the real ic-websocket-js 0.5.0 (unmodified, from npm) against an
// icws gateway's Omnia endpoint, shared by omnia.cjs (Node) and browser-entry.cjs (bundled for
// headless Chromium). run(opts, out) resolves true when the mode's expectations held.
//
// opts: gateway (ws URL), ic (replica URL), canister (principal text), mode: "echo" (open, send
// `count` {text, timestamp} messages, expect each text back, then close with 1000; with `acks`,
// also stay open through that many ack rounds, each answered by the library's keep-alive; `ackMs`
// is the canister's ack interval) or "refused" (expect a close before the open, with `wantCode`
// and a reason containing `wantReason`); timeoutMs bounds it all. noRootKeyGate turns off the
// workaround for the library's root-key race described below.
// out(event, fields) reports each event.
"use strict";

const { Actor, HttpAgent } = require("@dfinity/agent");
const { IcWebSocket, createWsConfig, generateRandomIdentity } = require("ic-websocket-js");


// The canister's interface as Omnia's examples declare it: AppMessage = record { text; timestamp }.
const idlFactory = ({ IDL }) => {
  const ClientKey = IDL.Record({ client_principal: IDL.Principal, client_nonce: IDL.Nat64 });
  const WebsocketMessage = IDL.Record({
    client_key: ClientKey,
    sequence_num: IDL.Nat64,
    timestamp: IDL.Nat64,
    is_service_message: IDL.Bool,
    content: IDL.Vec(IDL.Nat8),
  });
  const AppMessage = IDL.Record({ text: IDL.Text, timestamp: IDL.Nat64 });
  const Result = IDL.Variant({ Ok: IDL.Null, Err: IDL.Text });
  const OutputMessage = IDL.Record({ client_key: ClientKey, key: IDL.Text, content: IDL.Vec(IDL.Nat8) });
  const Certified = IDL.Record({
    messages: IDL.Vec(OutputMessage),
    cert: IDL.Vec(IDL.Nat8),
    tree: IDL.Vec(IDL.Nat8),
    is_end_of_queue: IDL.Bool,
  });
  return IDL.Service({
    ws_open: IDL.Func([IDL.Record({ client_nonce: IDL.Nat64, gateway_principal: IDL.Principal })], [Result], []),
    ws_close: IDL.Func([IDL.Record({ client_key: ClientKey })], [Result], []),
    ws_message: IDL.Func([IDL.Record({ msg: WebsocketMessage }), IDL.Opt(AppMessage)], [Result], []),
    ws_get_messages: IDL.Func([IDL.Record({ nonce: IDL.Nat64 })], [IDL.Variant({ Ok: Certified, Err: IDL.Text })], ["query"]),
  });
};

function run(opts, out) {
  return new Promise((resolve, reject) => {
    start(opts, out, resolve).catch(reject);
  });
}

async function start(opts, out, resolve) {
  const deadline = setTimeout(() => {
    out("timeout");
    resolve(false);
  }, opts.timeoutMs || 60000);

  const identity = generateRandomIdentity(); // secp256k1, the library's default
  const agent = HttpAgent.createSync({ host: opts.ic, identity });
  await agent.fetchRootKey();
  const canisterActor = Actor.createActor(idlFactory, { agent, canisterId: opts.canister });
  // ic-websocket-js 0.5.0 starts fetching the IC's root key in its constructor without waiting
  // for it (`void this._httpAgent.fetchRootKey()`), and verifies each canister message with
  // whatever root key its agent holds when the message arrives. Until the fetch is done that is
  // the mainnet key, so a message that arrives first (an OpenMessage from a gateway that polls
  // right after ws_open, on a local replica: milliseconds) fails with "Certificate validation
  // failed". An app can hold the frames back until the fetch is done, as here: the WebSocket the
  // library makes hands each frame to it only after the library's own agent has its root key
  // (fetchRootKey returns the same promise the constructor started). The order is kept.
  let release;
  const rootKeyReady = new Promise((r) => (release = r));
  const Base = globalThis.WebSocket;
  globalThis.WebSocket = class extends Base {
    get onmessage() {
      return super.onmessage;
    }
    set onmessage(handler) {
      super.onmessage = (ev) => rootKeyReady.then(() => handler(ev));
    }
  };
  let ws;
  try {
    ws = new IcWebSocket(
      opts.gateway,
      undefined,
      createWsConfig({
        canisterId: opts.canister,
        canisterActor,
        identity,
        networkUrl: opts.ic,
        ackMessageIntervalMs: opts.ackMs,
      }),
    );
  } finally {
    globalThis.WebSocket = Base;
  }
  const gate = opts.noRootKeyGate ? Promise.resolve() : ws._httpAgent.fetchRootKey();
  gate.then(release, (e) => {
    out("error", { error: `fetching the root key: ${e}` });
    release();
  });
  out("created", { principal: identity.getPrincipal().toText() });

  let opened = false;
  let received = 0;
  let errors = [];
  const done = (ok, why) => {
    clearTimeout(deadline);
    out(ok ? "pass" : "fail", { why, received, errors });
    resolve(ok);
  };
  const sendNext = () => ws.send({ text: `hello ${received}`, timestamp: BigInt(Date.now()) * 1000000n });

  ws.onopen = () => {
    opened = true;
    out("open");
    if (opts.mode !== "echo") return done(false, "opened, but the gateway should have refused");
    sendNext();
  };
  ws.onmessage = (ev) => {
    const want = `hello ${received}`;
    out("message", { text: ev.data.text });
    if (ev.data.text !== want) return done(false, `got ${JSON.stringify(ev.data.text)}, want ${JSON.stringify(want)}`);
    received++;
    if (received < opts.count) return sendNext();
    if (!opts.acks) return ws.close();
    // Stay open through ack rounds: the library answers each AckMessage with a keep-alive; a
    // missed one makes the canister close us (KeepAliveTimeout), a missed ack makes the library.
    // The library has no event for an ack, so its handler is wrapped to count them; the
    // library's own handler (verification done before it, the keep-alive after) still runs.
    out("waiting for acks", { acks: opts.acks });
    let rounds = 0;
    const orig = ws._handleAckMessageFromCanister.bind(ws);
    ws._handleAckMessageFromCanister = async (content) => {
      rounds++;
      out("ack", { last_incoming_sequence_num: content.last_incoming_sequence_num, round: rounds });
      await orig(content);
      if (rounds >= opts.acks) setTimeout(() => ws.close(), 200);
    };
  };
  ws.onerror = (ev) => {
    errors.push(String(ev.error || ev.message || ev));
    out("error", { error: String(ev.error || ev.message || ev) });
  };
  ws.onclose = (ev) => {
    out("close", { code: ev.code, reason: ev.reason });
    if (opts.mode === "refused") {
      return done(!opened && ev.code === opts.wantCode && ev.reason.includes(opts.wantReason), `closed with ${ev.code} ${JSON.stringify(ev.reason)}`);
    }
    done(opened && received === opts.count && errors.length === 0 && ev.code === 1000, `closed with ${ev.code} ${JSON.stringify(ev.reason)}`);
  };
}

module.exports = { run };
