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

import { IcWebSocket } from '../src/icws.js';
import { FALLBACK_INTERVAL_MS, MAX_PENDING_BYTES, MAX_PENDING_FRAMES, MESSAGE_BURST, MESSAGE_RATE, Pacer } from '../src/pacer.js';
import { decodeWebsocketMessage, decodeCborMap } from '../src/wire.js';

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
