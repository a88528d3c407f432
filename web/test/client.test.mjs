// Node tests of the browser client's pacing (src/pacer.js) and of IcWebSocket.send keeping to a
// gateway's limits. Run: node --test web/test/*.test.mjs
//
// The IcWebSocket test plays the gateway and the canister around a real client: a WebSocket
// stand-in that applies the gateway's rules (docs/PROTOCOL.md 7.1: at most 16 frames waiting for
// the canister, a token bucket of 40 refilled at 20 a second), and a stand-in for the verifier
// (frames here are not certified; verification has its own tests in verify.test.mjs).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Principal } from '@dfinity/principal';
import { ed25519 } from '@noble/curves/ed25519';

import { CanisterClosedError, CloseError, ClosedError, IcWebSocket, Kind, VerifyError, shouldReconnect } from '../src/icws.js';
import { FALLBACK_INTERVAL_MS, MAX_PENDING_BYTES, MAX_PENDING_FRAMES, MESSAGE_BURST, MESSAGE_RATE, Pacer } from '../src/pacer.js';
import { decodeCborMap, decodeFirstMessage, decodeWebsocketMessage } from '../src/wire.js';

/** A clock the test moves. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (/** @type {number} */ ms) => { t += ms; } };
}

/**
 * Writes frames 0, 1, … through p while it lets them, n at most, each of size bytes.
 * @returns {bigint} the next sequence number
 */
function writeWhileAllowed(/** @type {Pacer} */ p, /** @type {bigint} */ from, /** @type {number} */ n, size = 100) {
  let seq = from;
  while (seq < from + BigInt(n) && p.delay(seq, size) === 0) {
    p.wrote(seq, size);
    seq++;
  }
  return seq;
}

test('pacer: the window follows the canister acknowledgements', () => {
  const c = clock();
  const p = new Pacer({ now: c.now });
  p.ack(0n);
  assert.equal(writeWhileAllowed(p, 0n, 100), BigInt(MAX_PENDING_FRAMES));
  assert.equal(p.delay(16n, 100), Infinity, 'beyond the window: wait for an acknowledgement');
  c.advance(10_000); // time alone does not open the window
  assert.equal(p.delay(16n, 100), Infinity);
  p.ack(8n);
  assert.equal(writeWhileAllowed(p, 16n, 100), 24n);
  p.ack(5n); // an older acknowledgement changes nothing
  assert.equal(p.delay(24n, 100), Infinity);
  assert.equal(p.acked, 8n);
});

test('pacer: bursts of half the gateway burst, then the gateway rate', () => {
  const c = clock();
  const p = new Pacer({ now: c.now });
  p.ack(0n);
  let seq = 0n;
  const ack = () => p.ack(seq); // the canister keeps up
  for (let i = 0; i < MESSAGE_BURST / 2; i++) {
    assert.equal(p.delay(seq, 10), 0, `frame ${seq}`);
    p.wrote(seq, 10);
    seq++;
    ack();
  }
  const d = p.delay(seq, 10);
  assert.ok(d > 0 && d <= 1000 / MESSAGE_RATE, `after the burst, wait ${d} ms`);
  c.advance(d);
  assert.equal(p.delay(seq, 10), 0);
  // Over 10 s at most the rate's worth more.
  let sent = 0;
  for (let ms = 0; ms < 10_000; ms += 5) {
    c.advance(5);
    seq++;
    ack();
    if (p.delay(seq, 10) === 0) {
      p.wrote(seq, 10);
      sent++;
    } else {
      seq--;
    }
  }
  assert.ok(sent <= 10 * MESSAGE_RATE + 1 && sent >= 10 * MESSAGE_RATE - 1, `${sent} frames in 10 s`);
});

test('pacer: pending bytes are bounded too', () => {
  const p = new Pacer();
  p.ack(0n);
  const mib = 1 << 20;
  assert.equal(writeWhileAllowed(p, 0n, 10, mib), BigInt(MAX_PENDING_BYTES / mib));
  p.ack(4n);
  // One frame larger than the bound goes when nothing is pending.
  assert.equal(p.delay(4n, MAX_PENDING_BYTES + 1), 0);
});

test('pacer: without acknowledgements, one frame per fallback interval beyond the window', () => {
  const c = clock();
  const p = new Pacer({ now: c.now });
  assert.equal(writeWhileAllowed(p, 0n, 100), BigInt(MAX_PENDING_FRAMES));
  assert.equal(p.acknowledging, false);
  assert.equal(p.delay(16n, 100), FALLBACK_INTERVAL_MS);
  c.advance(FALLBACK_INTERVAL_MS - 1);
  assert.equal(p.delay(16n, 100), 1);
  c.advance(1);
  assert.equal(p.delay(16n, 100), 0);
  p.wrote(16n, 100);
  assert.equal(p.delay(17n, 100), FALLBACK_INTERVAL_MS);
  // The first acknowledgement switches to the window of acknowledgements.
  p.ack(1n); // the window is 1–16 now, though the fallback had moved it to 2–17
  assert.equal(p.acknowledging, true);
  assert.equal(p.delay(17n, 100), Infinity);
  p.ack(2n);
  assert.equal(p.delay(17n, 100), 0);
});

/**
 * A WebSocket stand-in that enforces a gateway's limits on what the client writes, and lets the
 * test acknowledge what "the canister" accepted.
 */
class GatewayModel {
  readyState = 1;
  binaryType = 'arraybuffer';
  /** @type {bigint[]} sequence numbers written, in order */
  seqs = [];
  accepted = 0n;
  maxPending = 0;
  violation = '';
  #tokens = 40;
  #at = Date.now();
  /** @type {((ev: {data: ArrayBuffer}) => void)|null} */ onmessage = null;
  /** @type {((ev: {code: number, reason: string}) => void)|null} */ onclose = null;
  onerror = null;

  /** @param {Uint8Array} frame */
  send(frame) {
    const now = Date.now();
    this.#tokens = Math.min(40, this.#tokens + ((now - this.#at) * 20) / 1000);
    this.#at = now;
    if (this.#tokens < 1) this.violation ||= `more than 20 frames a second (frame ${this.seqs.length})`;
    this.#tokens -= 1;
    const s5 = decodeCborMap('client message', frame, { val: 'bytes' }, ['val']);
    const m = decodeWebsocketMessage(/** @type {Uint8Array} */ (s5.val));
    this.seqs.push(m.seq);
    const pending = Number(m.seq + 1n - this.accepted);
    this.maxPending = Math.max(this.maxPending, pending);
    if (pending > 16) this.violation ||= `${pending} frames waiting for the canister`;
  }

  close() {
    this.readyState = 3;
  }

  /** The canister accepts everything written and acknowledges it in a service message. */
  acceptAll() {
    this.accepted = BigInt(this.seqs.length);
    this.onmessage?.({ data: new TextEncoder().encode(JSON.stringify({ ack: String(this.accepted) })).buffer });
  }
}

/** Stands in for the Verifier: frames are JSON {ack} service messages, in sequence. */
class ServiceOnlyVerifier {
  next = 0n;

  /** @param {Uint8Array} frame */
  async check(frame) {
    const { ack } = JSON.parse(new TextDecoder().decode(frame));
    const msg = { clientId: 16n, seq: this.next, timestamp: 0n, message: new Uint8Array(), service: true, ack: BigInt(ack), close: '' };
    this.next++;
    return { msg, received: Date.now(), key: 'k' };
  }
}

test('IcWebSocket.send: a burst of 100 keeps to the gateway limits, complete and in order', async () => {
  const gw = new GatewayModel();
  const v = new ServiceOnlyVerifier();
  const conn = new IcWebSocket(gw, ed25519.utils.randomSecretKey(), v, 16n, Principal.fromText('aaaaa-aa'), { gateway: 'ws://gateway.invalid' });
  const seqs = [];
  for (let i = 0; i < 100; i++) seqs.push(conn.send(new Uint8Array([i])));
  assert.deepEqual(seqs, [...Array(100).keys()].map(BigInt), 'numbered in the order of the calls');
  assert.equal(gw.seqs.length, MAX_PENDING_FRAMES, 'the first window goes at once');
  assert.equal(conn.unsent, 100 - MAX_PENDING_FRAMES);
  // The application reads; the canister accepts and acknowledges, as a gateway relays.
  const reader = conn.recv().catch(() => {});
  const deadline = Date.now() + 30_000;
  while (gw.seqs.length < 100 && Date.now() < deadline) {
    gw.acceptAll();
    await new Promise((resolve) => { setTimeout(resolve, 20); });
  }
  gw.acceptAll();
  assert.equal(gw.violation, '', 'the gateway would have closed the client');
  assert.deepEqual(gw.seqs.slice(0, 100), [...Array(100).keys()].map(BigInt), 'every frame once, in order');
  assert.ok(gw.seqs.slice(100).every((s, i) => s === 100n + BigInt(i)), 'then keep-alives only');
  assert.equal(conn.unsent, 0);
  assert.ok(gw.maxPending <= MAX_PENDING_FRAMES);
  conn.close('done');
  await reader;
});

/**
 * A WebSocket stand-in for reconnect: it opens on the next turn of the event loop, decodes what
 * the client writes (the signed first message, then client messages), and lets the test deliver
 * frames as the gateway would. The sockets a client makes are listed in made.
 */
function socketClass() {
  /** @type {StandInSocket[]} */
  const made = [];
  class StandInSocket {
    readyState = 0;
    binaryType = 'blob';
    /** @type {{openNonce: bigint, clientId: bigint, sigOk: boolean}|null} */
    first = null;
    /** @type {{seq: bigint, service: boolean, text: string}[]} client messages written, in order */
    sent = [];
    /** @type {{code: number|undefined, reason: string|undefined}|null} */
    closed = null;
    /** @type {((ev: {data: ArrayBuffer}) => void)|null} */ onmessage = null;
    /** @type {((ev: {code: number, reason: string}) => void)|null} */ onclose = null;
    /** @type {(() => void)|null} */ onopen = null;
    onerror = null;

    /** @param {string} url */
    constructor(url) {
      this.url = url;
      made.push(this);
      setTimeout(() => {
        this.readyState = 1;
        this.onopen?.();
      }, 0);
    }

    /** @param {Uint8Array} frame */
    send(frame) {
      if (this.readyState !== 1) throw new Error('stand-in: send on a socket that is not open');
      if (this.first === null) {
        const s2 = decodeCborMap('signed first message', frame, { client_canister_id: 'bytes', sig: 'bytes' }, ['client_canister_id', 'sig']);
        const s1 = /** @type {Uint8Array} */ (s2.client_canister_id);
        const m = decodeFirstMessage(s1);
        this.first = { openNonce: m.openNonce, clientId: m.clientId, sigOk: ed25519.verify(/** @type {Uint8Array} */ (s2.sig), s1, StandInSocket.publicKey) };
        return;
      }
      const s5 = decodeCborMap('client message', frame, { sig: 'bytes', val: 'bytes' }, ['sig', 'val']);
      const m = decodeWebsocketMessage(/** @type {Uint8Array} */ (s5.val));
      if (m.close) {
        this.goodbye = { seq: m.seq, close: m.close, sigOk: ed25519.verify(/** @type {Uint8Array} */ (s5.sig), /** @type {Uint8Array} */ (s5.val), StandInSocket.publicKey) };
        return;
      }
      this.sent.push({ seq: m.seq, service: m.service, text: new TextDecoder().decode(m.message) });
    }

    /** @param {number} [code] @param {string} [reason] */
    close(code, reason) {
      this.closed ??= { code, reason };
      this.readyState = 3;
    }

    /** Delivers a canister message (JSON for CanisterStandIn) as the gateway would. */
    deliver(/** @type {object} */ m) {
      this.onmessage?.({ data: new TextEncoder().encode(JSON.stringify(m)).buffer });
    }
  }
  /** @type {Uint8Array} */
  StandInSocket.publicKey = new Uint8Array();
  return { StandInSocket, made };
}

/**
 * Stands in for the Verifier with the same sequence checks: frames are JSON
 * {seq, text?, ack?, ts?, at?} (ack makes it a service message, ts is its IC time in ns, at its
 * ack_time).
 */
class CanisterStandIn {
  next = 0n;

  /** @param {Uint8Array} frame */
  async check(frame) {
    const j = JSON.parse(new TextDecoder().decode(frame));
    const seq = BigInt(j.seq);
    if (seq < this.next) throw new VerifyError(Kind.REPLAY, `k${seq}`, `sequence number ${seq} was already delivered`, { seq });
    if (seq > this.next) throw new VerifyError(Kind.GAP, `k${seq}`, `sequence number ${seq}, want ${this.next}`, { seq });
    this.next++;
    const service = j.ack !== undefined;
    const msg = { clientId: 16n, seq, timestamp: BigInt(j.ts ?? 0), message: new TextEncoder().encode(j.text ?? ''), service, ack: service ? BigInt(j.ack) : 0n, ackTime: BigInt(j.at ?? 0), close: '' };
    return { msg, received: Date.now(), key: `k${seq}` };
  }
}

/** A connection on a first stand-in socket, as connect leaves it (the first message written). */
async function reconnectable(now = () => 1_000_000, opts = {}) {
  const { StandInSocket, made } = socketClass();
  const secret = ed25519.utils.randomSecretKey();
  StandInSocket.publicKey = ed25519.getPublicKey(secret);
  const ws = new StandInSocket('ws://a.invalid');
  await new Promise((resolve) => { setTimeout(resolve, 0); });
  ws.first = { openNonce: 0n, clientId: 16n, sigOk: true }; // connect wrote it
  const conn = new IcWebSocket(ws, secret, new CanisterStandIn(), 16n, Principal.fromText('aaaaa-aa'), { gateway: ws.url, WebSocket: /** @type {any} */ (StandInSocket), now, ...opts });
  return { conn, made, a: ws };
}

const text = (/** @type {string} */ s) => new TextEncoder().encode(s);

test('IcWebSocket.close: a signed goodbye, numbered after what was written, then the Close frame', async () => {
  const { conn, a } = await reconnectable();
  conn.send(text('last'));
  conn.close('bye now');
  assert.deepEqual(a.sent, [{ seq: 0n, service: false, text: 'last' }]);
  assert.deepEqual(a.goodbye, { seq: 1n, close: 'bye now', sigOk: true });
  assert.deepEqual(a.closed, { code: 1000, reason: 'bye now' });
  // Without a reason it still says goodbye; on a dead socket it cannot, and close still works.
  const second = await reconnectable();
  second.conn.close();
  assert.deepEqual(second.a.goodbye, { seq: 0n, close: 'closed by the client', sigOk: true });
  const third = await reconnectable();
  third.a.readyState = 3;
  third.conn.close('x');
  assert.equal(third.a.goodbye, undefined);
});

test('shouldReconnect: lost connections, gaps and withheld messages; never forgeries or the canister\'s end', () => {
  for (const [err, want] of [
    [new CloseError(1001, 'going away'), true],
    [new CloseError(1006, 'connection lost'), true],
    [new CloseError(4007, ''), true],
    [new CloseError(1000, ''), false],
    [new CloseError(4008, 'session ended'), false],
    [new VerifyError(Kind.GAP, 'k', ''), true],
    [new VerifyError(Kind.WITHHELD, 'k', ''), true],
    [new VerifyError(Kind.TAMPERED, 'k', ''), false],
    [new VerifyError(Kind.BAD_CERTIFICATE, 'k', ''), false],
    [new CanisterClosedError('bye'), false],
    [new ClosedError(), false],
    [new Error('anything else'), false],
  ]) {
    assert.equal(shouldReconnect(err), want, String(err));
  }
});

test('IcWebSocket.reconnect: a new socket, the same client, a greater open nonce each time', async () => {
  const { conn, made, a } = await reconnectable();
  assert.equal(conn.openNonce, 0n);
  await conn.reconnect('ws://b.invalid');
  assert.equal(made.length, 2);
  const b = made[1];
  assert.equal(b.url, 'ws://b.invalid');
  assert.equal(conn.gateway, 'ws://b.invalid');
  assert.ok(b.first, 'the first message went through the new socket');
  assert.equal(b.first.clientId, 16n);
  assert.ok(b.first.sigOk, 'signed with the client key');
  assert.equal(b.first.openNonce, 1_000_000n * 1_000_000n, 'the clock in ns');
  assert.deepEqual(a.sent, [], 'nothing went through the old socket');
  // The clock did not move: the next nonce is one more, never the same.
  await conn.reconnect('ws://c.invalid');
  assert.equal(made[2].first?.openNonce, b.first.openNonce + 1n);
  assert.equal(conn.openNonce, b.first.openNonce + 1n);
  await assert.rejects(conn.reconnect('http://d.invalid'), TypeError);
  conn.close('done');
  await assert.rejects(conn.reconnect('ws://e.invalid'), ClosedError);
});

test('IcWebSocket.reconnect: messages already received are skipped silently, the old socket closed once the new one delivers', async () => {
  const { conn, made, a } = await reconnectable();
  for (let i = 0; i < 3; i++) a.deliver({ seq: i, text: `m${i}` });
  for (let i = 0n; i < 3n; i++) assert.equal((await conn.recv()).seq, i);
  a.deliver({ seq: 3, text: 'm3' }); // arrives, but recv has not read it before the move
  await conn.reconnect('ws://b.invalid');
  const b = made[1];
  a.deliver({ seq: 4, text: 'm4' }); // the old gateway is no longer read
  assert.equal(a.closed, null, 'the old socket stays open until the new gateway proves itself');
  // The new gateway delivers the client's queue at the canister: it starts with 1 and 2.
  const next = conn.recv();
  for (let i = 1; i < 6; i++) b.deliver({ seq: i, text: `m${i}` });
  const m = await next;
  assert.equal(m.seq, 3n, 'no replay error for 1 and 2');
  assert.equal(new TextDecoder().decode(m.payload), 'm3');
  assert.deepEqual(a.closed, { code: 1000, reason: 'moved to another gateway' });
  assert.equal((await conn.recv()).seq, 4n);
  assert.equal((await conn.recv()).seq, 5n);
  // A repeat after that is the new gateway's, and reported.
  b.deliver({ seq: 5, text: 'm5' });
  await assert.rejects(conn.recv(), (e) => e instanceof VerifyError && e.kind === Kind.REPLAY && !e.fatal);
  assert.equal(b.closed, null);
  conn.close('done');
  assert.deepEqual(b.closed, { code: 1000, reason: 'done' });
});

test('IcWebSocket.reconnect: after a failure, recv goes on through the new gateway', async () => {
  const { conn, made, a } = await reconnectable();
  a.deliver({ seq: 0, text: 'm0' });
  a.deliver({ seq: 2, text: 'm2' }); // the old gateway dropped 1
  assert.equal((await conn.recv()).seq, 0n);
  await assert.rejects(conn.recv(), (e) => e instanceof VerifyError && e.kind === Kind.GAP && e.fatal);
  assert.throws(() => conn.send(text('x')), /the connection failed/);
  await conn.reconnect('ws://b.invalid');
  made[1].deliver({ seq: 0, text: 'm0' });
  made[1].deliver({ seq: 1, text: 'm1' });
  assert.equal((await conn.recv()).seq, 1n);
  assert.equal(conn.send(text('x')), 0n);
  conn.close('done');
});

test('IcWebSocket.reconnect: unacknowledged messages are sent again, in order, once, after the canister acknowledges', async () => {
  const { conn, made, a } = await reconnectable();
  for (let i = 0; i < 5; i++) conn.send(text(`c${i}`));
  assert.deepEqual(a.sent.map((s) => s.seq), [0n, 1n, 2n, 3n, 4n]);
  // The canister got 0 and 1 (the old gateway swallowed the rest).
  a.deliver({ seq: 0, ack: 2, ts: 1 });
  const reader = conn.recv();
  await new Promise((resolve) => { setTimeout(resolve, 0); });
  assert.equal(conn.acked, 2n);
  await conn.reconnect('ws://b.invalid');
  const b = made[1];
  assert.deepEqual(b.sent, [], 'nothing is written before the canister says what it has');
  assert.equal(conn.send(text('c5')), 5n, 'send goes on with its numbers');
  assert.equal(conn.unsent, 4);
  assert.deepEqual(b.sent, [], 'new sends queue behind the unacknowledged');
  // An acknowledgement queued before the reopening says nothing of it.
  b.deliver({ seq: 1, ack: 2, ts: 5 });
  await new Promise((resolve) => { setTimeout(resolve, 0); });
  assert.deepEqual(b.sent, []);
  // The canister's acknowledgement of the reopened client: it has 0 to 2.
  b.deliver({ seq: 2, ack: 3, ts: String(1_000_000n * 1_000_000n) });
  await new Promise((resolve) => { setTimeout(resolve, 0); });
  assert.deepEqual(b.sent.map((s) => [s.seq, s.text]), [[3n, 'c3'], [4n, 'c4'], [5n, 'c5']]);
  assert.equal(conn.unsent, 0);
  assert.deepEqual(a.sent.map((s) => s.seq), [0n, 1n, 2n, 3n, 4n], 'nothing more through the old socket');
  // Once the canister has everything, it is idle: a keep-alive answers its next acknowledgement.
  b.deliver({ seq: 3, ack: 6, ts: String(1_000_000n * 1_000_000n) });
  b.deliver({ seq: 4, text: 'done' });
  assert.equal((await reader).seq, 4n);
  assert.deepEqual(b.sent.map((s) => [s.seq, s.service]), [[3n, false], [4n, false], [5n, false], [6n, true]]);
  assert.equal(conn.acked, 6n);
  conn.close('done');
});

/** Lets every pending step of the client run. */
const settle = () => new Promise((resolve) => { setImmediate(resolve); });

/** IC time (ns) of ms on a test clock, as a heartbeat's timestamp carries it. */
const icNs = (/** @type {number} */ ms) => ms * 1_000_000;

/**
 * A reconnectable connection on a test clock, recv pending, whose first heartbeat acknowledged
 * its keep-alive: nothing is unconfirmed when it returns.
 * @param {Record<string, unknown>} [opts]
 */
async function acknowledgedConn(opts) {
  const c = clock();
  const { conn, a } = await reconnectable(c.now, opts);
  const r = conn.recv();
  a.deliver({ seq: 0, ack: 1, ts: icNs(c.now()) });
  await settle();
  return { c, conn, a, r };
}

/**
 * Moves the clock and the mocked timers by ms, a step at a time, and returns how long it took
 * until p settled (Infinity if it did not within ms).
 * @param {{advance: (ms: number) => void}} c @param {import('node:test').MockTimers} timers
 * @param {Promise<unknown>} p @param {number} ms @param {number} step
 */
async function settlesAfter(c, timers, p, ms, step = 1_000) {
  let done = false;
  p.then(() => { done = true; }, () => { done = true; });
  await settle();
  for (let t = 0; t < ms; t += step) {
    if (done) return t;
    c.advance(step);
    timers.tick(step);
    await settle();
  }
  return done ? ms : Infinity;
}

test('IcWebSocket liveness: a gateway silent from the start fails recv with withheld heartbeatTimeoutMs after the open', async (t) => {
  const c = clock();
  const { conn } = await reconnectable(c.now);
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const r = conn.recv();
  const settled = r.then(() => 'resolved', (e) => e);
  const took = await settlesAfter(c, t.mock.timers, r, 200_000);
  assert.equal(took, 75_000, 'detected when the heartbeat timeout passed since the open');
  const err = await settled;
  assert.ok(err instanceof VerifyError, `got ${err}`);
  assert.equal(err.kind, Kind.WITHHELD);
  assert.ok(err.fatal);
  assert.match(err.message, /no certified message came through ws:\/\/a\.invalid within 75 s of opening the connection.*never arrived.*heartbeatTimeoutMs negative/);
  conn.close();
});

test('IcWebSocket liveness: a gateway that passes five replies and withholds the sixth and everything after fails recv with withheld', async (t) => {
  const c = clock();
  const { conn, a } = await reconnectable(c.now);
  t.mock.timers.enable({ apis: ['setTimeout'] });
  // No heartbeat before the withheld reply (the canister's first comes at its first timer tick),
  // so nothing but the open arms the timer.
  for (let i = 0; i < 6; i++) {
    conn.send(text(`m${i}`));
    if (i === 5) break; // its reply is withheld, and so is every later frame
    c.advance(2_000);
    t.mock.timers.tick(2_000);
    a.deliver({ seq: i, text: `m${i} ping` });
    assert.equal(new TextDecoder().decode((await conn.recv()).payload), `m${i} ping`);
  }
  const r = conn.recv();
  const settled = r.then(() => 'resolved', (e) => e);
  const took = await settlesAfter(c, t.mock.timers, r, 200_000);
  assert.equal(took, 75_000, 'detected when the heartbeat timeout passed since the last certified frame (and the last send)');
  const err = await settled;
  assert.ok(err instanceof VerifyError, `got ${err}`);
  assert.equal(err.kind, Kind.WITHHELD);
  assert.match(err.message, /no certified message came through ws:\/\/a\.invalid for 75 s, although the canister sends heartbeats/);
  conn.close();
});

test('IcWebSocket liveness: with a negative heartbeatTimeoutMs, silence never fails recv', async (t) => {
  const c = clock();
  const { conn, a } = await reconnectable(c.now, { heartbeatTimeoutMs: -1 });
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const r = conn.recv();
  assert.equal(await settlesAfter(c, t.mock.timers, r, 600_000, 10_000), Infinity, 'recv still waits after 10 minutes');
  a.deliver({ seq: 0, text: 'late' });
  assert.equal(new TextDecoder().decode((await r).payload), 'late');
  conn.close();
});

test('IcWebSocket liveness: once heartbeats came, silence for heartbeatTimeoutMs fails recv with withheld', async (t) => {
  const c = clock();
  const { conn, a } = await reconnectable(c.now);
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const first = conn.recv();
  c.advance(60_000);
  t.mock.timers.tick(60_000);
  a.deliver({ seq: 0, ack: 0, ts: 1 }); // the first heartbeat, within the timeout of the open; the client answers with keep-alive 0
  a.deliver({ seq: 1, text: 'hello' });
  assert.equal(new TextDecoder().decode((await first).payload), 'hello');
  const second = conn.recv();
  const settled = second.then(() => 'resolved', (e) => e);
  await new Promise((resolve) => { setImmediate(resolve); }); // every pending step runs
  c.advance(74_000);
  t.mock.timers.tick(74_000);
  await new Promise((resolve) => { setImmediate(resolve); }); // every pending step runs
  a.deliver({ seq: 2, ack: 1, ts: 2 }); // a heartbeat in time (acknowledging it) restarts the period
  await new Promise((resolve) => { setImmediate(resolve); });
  c.advance(74_000);
  t.mock.timers.tick(74_000);
  await new Promise((resolve) => { setImmediate(resolve); }); // every pending step runs
  c.advance(1_000);
  t.mock.timers.tick(1_000);
  const err = await settled;
  assert.ok(err instanceof VerifyError, `got ${err}`);
  assert.equal(err.kind, Kind.WITHHELD);
  assert.ok(err.fatal);
  assert.match(err.message, /no certified message came through ws:\/\/a\.invalid for 75 s.*reconnect/);
  await assert.rejects(conn.recv(), (e) => e === err, 'recv keeps failing with it');
  conn.close();
});

test('IcWebSocket liveness: a message the canister never acknowledges within ackTimeoutMs fails recv with withheld', async () => {
  const { c, conn, a, r } = await acknowledgedConn();
  const seq = conn.send(text('lost on the way'));
  assert.deepEqual(conn.unconfirmed, [seq]);
  c.advance(29_000);
  a.deliver({ seq: 1, ack: 1, ts: icNs(c.now()) }); // within the default bound (2/5 of 75 s): fine
  c.advance(2_000);
  a.deliver({ seq: 2, ack: 1, ts: icNs(c.now()) }); // certified 31 s after it was written
  const err = await r.then(() => null, (e) => e);
  assert.ok(err instanceof VerifyError, `got ${err}`);
  assert.equal(err.kind, Kind.WITHHELD);
  assert.match(err.message, /acknowledges client messages up to 1 only, but message \d+ was sent through ws:\/\/a\.invalid 31\.0 s before it.*swallowed/);
  assert.deepEqual(conn.unconfirmed, [seq], 'the application can tell which message it lost');
  conn.close();
});

test('IcWebSocket liveness: a message queued behind an unacknowledged one counts from that one\'s acknowledgement', async () => {
  const { c, conn, a, r } = await acknowledgedConn({ ackTimeoutMs: 1_000 });
  const first = conn.send(text('first'));
  const second = conn.send(text('second')); // behind the first, at the gateway
  c.advance(3_000); // the gateway's call for the first takes long
  a.deliver({ seq: 1, ack: Number(first) + 1, ts: icNs(c.now()) }); // the first is in; the second may still be in its call
  c.advance(900);
  a.deliver({ seq: 2, ack: Number(first) + 1, ts: icNs(c.now()) }); // 3.9 s after its write, 0.9 s after the first's acknowledgement
  await new Promise((resolve) => { setImmediate(resolve); });
  assert.deepEqual(conn.unconfirmed, [second]);
  c.advance(200);
  a.deliver({ seq: 3, ack: Number(first) + 1, ts: icNs(c.now()) }); // 1.1 s after it: swallowed
  const err = await r.then(() => null, (e) => e);
  assert.ok(err instanceof VerifyError, `got ${err}`);
  assert.equal(err.kind, Kind.WITHHELD);
  assert.match(err.message, new RegExp(`message ${second} was sent through ws://a\\.invalid 1\\.1 s before it`));
  conn.close();
});

test('IcWebSocket liveness: a message queued behind an unacknowledged one counts from that one\'s acceptance, the ack_time', async () => {
  const { c, conn, a, r } = await acknowledgedConn({ ackTimeoutMs: 1_000 });
  const written = c.now();
  const first = conn.send(text('first'));
  const second = conn.send(text('second')); // behind the first, at the gateway
  c.advance(1_200);
  // The heartbeat, 1.2 s after the writes, says the first was accepted 0.5 s after them.
  a.deliver({ seq: 1, ack: Number(first) + 1, ts: icNs(c.now()), at: icNs(written + 500) });
  await new Promise((resolve) => { setImmediate(resolve); });
  assert.deepEqual(conn.unconfirmed, [second], '0.7 s after the first was accepted: within the bound');
  c.advance(400);
  // 1.1 s after the first was accepted (counted from the heartbeat, only 0.4 s): swallowed.
  a.deliver({ seq: 2, ack: Number(first) + 1, ts: icNs(c.now()), at: icNs(written + 500) });
  a.deliver({ seq: 3, text: 'after' }); // what recv returns if it took the heartbeat for in time
  const err = await r.then(() => null, (e) => e);
  assert.ok(err instanceof VerifyError, `got ${err}`);
  assert.equal(err.kind, Kind.WITHHELD);
  assert.match(err.message, new RegExp(`message ${second} was sent through ws://a\\.invalid 1\\.1 s before it`));
  conn.close();
});

test('IcWebSocket liveness: acknowledged messages in time never trip it', async () => {
  const c = clock();
  const { conn, a } = await reconnectable(c.now);
  const r = conn.recv();
  conn.send(text('one'));
  c.advance(100_000);
  a.deliver({ seq: 0, ack: 5, ts: 1 }); // every message acknowledged
  a.deliver({ seq: 1, text: 'after' });
  assert.equal(new TextDecoder().decode((await r).payload), 'after');
  assert.deepEqual(conn.unconfirmed, []);
  conn.close();
});
