// Node tests of the browser client's verification and encodings, against testdata/golden.json:
// frames made by the Go IC primitives (real BLS certificates, witnesses, delegations) and the
// byte encodings of the Go package protocol. Run: node --test web/test/
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import { Principal } from '@dfinity/principal';
import { ed25519 } from '@noble/curves/ed25519';

import { Kind, VerifyError, isFatal } from '../src/errors.js';
import { Verifier } from '../src/verify.js';
import {
  MalformedError,
  decodeAppMessage,
  decodeBatchFrame,
  decodeCertMessage,
  isBatchFrame,
  messageKey,
  decodeWebsocketMessage,
  encodeAppMessage,
  encodeClientMessage,
  encodeClientWebsocketMessage,
  decodeFirstMessage,
  encodeFirstMessage,
  encodeSignedFirstMessage,
  nextOpenNonce,
} from '../src/wire.js';

const golden = JSON.parse(await readFile(new URL('../testdata/golden.json', import.meta.url), 'utf8'));
const hex = (/** @type {string} */ s) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
const toHex = (/** @type {Uint8Array} */ b) => Buffer.from(b).toString('hex');

for (const c of golden.cases) {
  test(`verify: ${c.name}`, async () => {
    const v = new Verifier({
      canisterId: Principal.fromText(golden.canister),
      rootKey: hex(c.rootKey),
      clientId: BigInt(c.clientId),
      now: () => c.nowMs,
    });
    for (const [i, step] of c.steps.entries()) {
      const want = step.want;
      const before = v.next;
      if (step.batch) {
        // An S9 (docs/PROTOCOL.md §13): a failure of the whole frame, or each message's outcome.
        let outcomes;
        try {
          outcomes = await v.checkBatch(hex(step.frame));
        } catch (e) {
          assert.ok(e instanceof VerifyError, `step ${i}: ${e}`);
          assert.equal(e.kind, want.kind ?? 'none', `step ${i}: ${e.message}`);
          assert.ok(e.fatal);
          assert.equal(v.next, before, `step ${i}: a failed frame moved the sequence number`);
          continue;
        }
        assert.equal(want.kind, undefined, `step ${i}: the frame passed, want ${want.kind}`);
        assert.equal(outcomes.length, step.wants.length, `step ${i}: ${outcomes.length} outcomes, want ${step.wants.length}`);
        let next = before;
        for (const [j, o] of outcomes.entries()) {
          const w = step.wants[j];
          if (o.err) {
            assert.equal(o.err.kind, w.kind ?? 'none', `step ${i} message ${j}: ${o.err.message}`);
            continue;
          }
          assert.equal(w.kind, undefined, `step ${i} message ${j}: passed, want ${w.kind}`);
          assert.equal(o.vm.msg.seq, BigInt(w.seq));
          if (!w.service) assert.equal(decodeAppMessage(o.vm.msg.message).text, w.text);
          next++;
        }
        assert.equal(v.next, next, `step ${i}: the sequence number moved once per verified message`);
        continue;
      }
      let got;
      try {
        got = await v.check(hex(step.frame));
      } catch (e) {
        assert.ok(e instanceof VerifyError, `step ${i}: ${e}`);
        assert.equal(e.kind, want.kind ?? 'none', `step ${i}: ${e.message}`);
        assert.equal(e.fatal, !['foreign', 'replay'].includes(e.kind));
        assert.equal(isFatal(e), e.fatal);
        assert.equal(v.next, before, `step ${i}: a failed check moved the sequence number`);
        continue;
      }
      assert.equal(want.kind, undefined, `step ${i}: passed, want ${want.kind}`);
      assert.equal(got.msg.seq, BigInt(want.seq));
      assert.equal(got.msg.service, Boolean(want.service));
      assert.equal(got.msg.close, want.close ?? '');
      if (!want.service) assert.equal(decodeAppMessage(got.msg.message).text, want.text);
      assert.equal(v.next, before + 1n);
    }
    if (c.certVerifications) assert.equal(v.certVerifications, c.certVerifications, 'certificates verified (cache)');
  });
}

for (const e of golden.encodings) {
  test(`encode: ${e.name} ${e.seq ?? ''}`, () => {
    const seed = hex(e.seed);
    if (e.canister) {
      const s1 = encodeFirstMessage({ canisterId: e.canister, clientId: BigInt(e.clientId) });
      assert.equal(toHex(encodeSignedFirstMessage(s1, ed25519.sign(s1, seed), BigInt(e.batch ?? 0))), e.want);
      return;
    }
    const val = encodeClientWebsocketMessage({
      clientId: BigInt(e.clientId),
      seq: BigInt(e.seq),
      timestamp: BigInt(e.timestamp),
      message: e.service ? new Uint8Array() : encodeAppMessage(e.text ?? ''),
      service: e.service,
      ack: e.ack === undefined ? undefined : BigInt(e.ack),
    });
    assert.equal(toHex(encodeClientMessage(ed25519.sign(val, seed), val)), e.want);
    const back = decodeWebsocketMessage(val);
    assert.equal(back.seq, BigInt(e.seq));
    assert.equal(back.timestamp, BigInt(e.timestamp));
    assert.equal(back.service, Boolean(e.service));
  });
}

test('the seed worked example S1 (poc-protocol 4.3)', () => {
  const s1 = encodeFirstMessage({ canisterId: 'bw4dl-smaaa-aaaaa-qaacq-cai', clientId: 16n });
  assert.equal(toHex(s1), 'd9d9f7a26b63616e69737465725f6964781b627734646c2d736d6161612d61616161612d71616163712d636169'
    + '69636c69656e745f696410');
  const sig = ed25519.sign(s1, hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
  assert.equal(toHex(sig), '867376bcd36cfabd1de3d99b6e36fe65105ec20e3054b4e43bd20ef11418bbe2200f1ffc080d8a00a88755b996e24634388045dc4613bdd75106d794f07e2e0d');
});

test('S1 with open_nonce: the golden of docs/PROTOCOL.md 2.1 and protocol/golden_test.go', () => {
  const m = { canisterId: 'bw4dl-smaaa-aaaaa-qaacq-cai', clientId: 16n, openNonce: 1684411200123456789n };
  const s1 = encodeFirstMessage(m);
  assert.equal(s1.length, 76);
  assert.equal(toHex(s1), 'd9d9f7a36b63616e69737465725f6964781b627734646c2d736d6161612d61616161612d71616163712d636169'
    + '69636c69656e745f696410' + '6a6f70656e5f6e6f6e63651b17603b0fe70c4d15');
  const sig = ed25519.sign(s1, hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
  assert.equal(toHex(sig), '302c876794515a7631121aff77615bc98182b46d52f48bff6c9218b1a52227c4c59e0701e9d3e1f2f37e493f1a10edc9bf45c39cd9f3180cadf96653d727a00f');
  assert.deepEqual(decodeFirstMessage(s1), m);
  // Without a nonce (or with 0n), the seed's form; an explicit 0 on the wire is refused.
  assert.equal(encodeFirstMessage({ ...m, openNonce: 0n }).length, 56);
  assert.equal(decodeFirstMessage(encodeFirstMessage({ ...m, openNonce: undefined })).openNonce, 0n);
  const zero = hex('a3' + '6b63616e69737465725f6964' + '6161' + '69636c69656e745f6964' + '10' + '6a6f70656e5f6e6f6e6365' + '00');
  assert.throws(() => decodeFirstMessage(zero), (e) => e instanceof MalformedError && /"open_nonce" is 0/.test(e.message));
});

test('open nonces are the time in ns and strictly increase', () => {
  assert.equal(nextOpenNonce(0n, 1_700_000_000_000), 1_700_000_000_000_000_000n);
  assert.equal(nextOpenNonce(1_700_000_000_000_000_000n, 1_700_000_000_000), 1_700_000_000_000_000_001n);
  assert.equal(nextOpenNonce(1_800_000_000_000_000_000n, 1_700_000_000_000), 1_800_000_000_000_000_001n);
  assert.equal(nextOpenNonce(0n, -5), 1n);
  assert.equal(nextOpenNonce((1n << 64n) - 1n, 1), (1n << 64n) - 1n);
  let last = 0n;
  for (let i = 0; i < 1000; i++) {
    const n = nextOpenNonce(last, 1_700_000_000_000 + (i % 3));
    assert.ok(n > last, `call ${i}: ${n} after ${last}`);
    last = n;
  }
});

test('decoders refuse bad input with a clear error', () => {
  const cases = [
    ['empty', '', /unexpected end of input/],
    ['not a map', '01', /want a map, got an unsigned integer/],
    ['indefinite map', 'bf63', /indefinite-length/],
    ['duplicate key', 'a2636b65796161636b65796162', /duplicate key "key"/],
    ['trailing bytes', 'a4636b6579616b6376616c4064636572744064747265654000', /1 trailing bytes/],
    ['truncated text', 'a1636b657978ff00', /runs past the end/],
    ['wrong type', 'a4636b6579016376616c40646365727440647472656540', /field "key": want a text string, got an unsigned integer/],
    ['missing field', 'a1636b6579616b', /missing field "val"/],
    ['invalid UTF-8 text', 'a4636b657962c3286376616c40646365727440647472656540', /not valid UTF-8/],
    ['foreign tag', 'c1a0', /unexpected tag 1/],
    ['deep nesting under an unknown key', `a163787878${'81'.repeat(40)}00`, /nested deeper than 16/],
  ];
  for (const [name, h, msg] of cases) {
    assert.throws(() => decodeCertMessage(hex(h)), (e) => e instanceof MalformedError && msg.test(e.message), name);
  }
  // Unknown keys are skipped; the self-describe tag is optional.
  const m = decodeCertMessage(hex('d9d9f7a5636b6579616b6378787882010263766' + '16c41016463657274406474726565 40'.replaceAll(' ', '')));
  assert.equal(m.key, 'k');
  assert.deepEqual([...m.val], [1]);
  assert.throws(() => decodeWebsocketMessage(encodeAppMessage('x')), /missing field "client_id"/);
});

test('decoders never throw anything but MalformedError on random input', () => {
  let x = 0x2545f491;
  const rnd = () => {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    return (x >>> 0) & 0xff;
  };
  const prefixes = ['a4636b6579', 'd9d9f7a4', 'a5', ''];
  for (let i = 0; i < 3000; i++) {
    const p = hex(prefixes[i % prefixes.length]);
    const b = new Uint8Array(p.length + (i % 40));
    b.set(p);
    for (let j = p.length; j < b.length; j++) b[j] = rnd();
    for (const f of [decodeCertMessage, decodeWebsocketMessage, decodeAppMessage, decodeFirstMessage]) {
      try {
        f(b);
      } catch (e) {
        assert.ok(e instanceof MalformedError, `${f.name}(${toHex(b)}): ${e}`);
      }
    }
  }
});

test('random frames are refused as malformed, never crash the verifier', async () => {
  const c = golden.cases[0];
  const v = new Verifier({ canisterId: Principal.fromText(golden.canister), rootKey: hex(c.rootKey), clientId: 16n, now: () => c.nowMs });
  const frame = hex(c.steps[0].frame);
  for (let i = 0; i < 200; i++) {
    const b = frame.slice(0, (i * 37) % frame.length);
    await assert.rejects(v.check(b), (e) => e instanceof VerifyError && e.kind === Kind.MALFORMED);
  }
  // A frame with a corrupted tree: a decodable CBOR value that is not a hash tree.
  const cm = decodeCertMessage(frame);
  const bad = [...hex('a4636b6579'), ...encodeText(cm.key), ...hex('6376616c'), ...encodeBytes(cm.val),
    ...hex('6463657274'), ...encodeBytes(cm.cert), ...hex('6474726565'), ...encodeBytes(hex('d9d9f78302'))];
  await assert.rejects(v.check(Uint8Array.from(bad)), (e) => e instanceof VerifyError && e.kind === Kind.TAMPERED);
});

/** @param {string} s */
function encodeText(s) {
  const b = new TextEncoder().encode(s);
  return [...head(3, b.length), ...b];
}
/** @param {Uint8Array} b */
function encodeBytes(b) {
  return [...head(2, b.length), ...b];
}
/** @param {number} major @param {number} n */
function head(major, n) {
  if (n < 24) return [(major << 5) | n];
  if (n < 256) return [(major << 5) | 24, n];
  return [(major << 5) | 25, n >> 8, n & 0xff];
}

test('S9: the golden of docs/PROTOCOL.md 13.2 and protocol TestBatchFrameGolden, and what does not decode', () => {
  const golden9 = 'a5' + '67' + '67617465776179' + '69' + '32767873782d666165'
    + '66' + '6e6f6e636573' + '82' + '05' + '06'
    + '64' + '76616c73' + '82' + '4101' + '4102'
    + '64' + '63657274' + '41' + 'c0'
    + '64' + '74726565' + '45' + 'd9d9f78100';
  const b = hex(golden9);
  assert.ok(isBatchFrame(b));
  assert.ok(!isBatchFrame(hex('a4636b6579')));
  const f = decodeBatchFrame(b);
  assert.equal(f.gateway, '2vxsx-fae');
  assert.deepEqual(f.nonces, [5n, 6n]);
  assert.deepEqual(f.vals.map(toHex), ['01', '02']);
  assert.equal(toHex(f.cert), 'c0');
  assert.equal(toHex(f.tree), 'd9d9f78100');
  assert.equal(messageKey(f.gateway, f.nonces[0]), '2vxsx-fae_00000000000000000005');
  // The self-describe tag is optional; trailing bytes are not.
  assert.deepEqual(decodeBatchFrame(hex('d9d9f7' + golden9)).nonces, [5n, 6n]);
  for (const [name, frame] of [
    ['trailing bytes', golden9 + '00'],
    ['nonces not increasing', golden9.replace('820506', '820605')],
    ['no nonces', golden9.replace('66' + '6e6f6e636573' + '820506', '66' + '6e6f6e636573' + '80')],
    ['fewer nonces than vals', golden9.replace('820506', '8105')],
    ['a gateway with _', golden9.replace('69' + '32767873782d666165', '69' + '32767873782d665f65')],
    ['a missing tree', golden9.replace('a5', 'a4').replace('64' + '74726565' + '45' + 'd9d9f78100', '')],
    ['a duplicate key', golden9.replace('a5', 'a6') + '64' + '63657274' + '41' + 'c0'],
  ]) {
    assert.throws(() => decodeBatchFrame(hex(frame)), (e) => e instanceof MalformedError && e.message.startsWith('batch frame: '), name);
  }
});
