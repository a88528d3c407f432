// Node tests of the certified-channel encodings of the browser client (web/src/wire.js), with
// the vectors of docs/PROTOCOL.md §12.2 (protocol TestChannelGolden).
import assert from 'node:assert/strict';
import test from 'node:test';

import { channelKey } from '../src/verify.js';
import { decodeChannelFrame, decodeChannelMessage, decodeChannelStatus, encodeChannelControl, isChannelFrame } from '../src/wire.js';

const hex = (s) => Uint8Array.from(s.replace(/\s+/g, '').match(/../g), (h) => parseInt(h, 16));
const txt = (s) => Buffer.from(s).toString('hex');
const C1 = hex(`d9d9f7 a4 67${txt('channel')} 65${txt('lobby')} 63${txt('seq')} 00 69${txt('timestamp')} 01 67${txt('message')} 42 6869`);

test('golden C1, C2, C3 and the channel key', () => {
  assert.equal(channelKey('lobby', 0n), '~lobby~00000000000000000000');
  assert.deepEqual(decodeChannelMessage(C1), { channel: 'lobby', seq: 0n, timestamp: 1n, message: hex('6869') });
  assert.deepEqual(encodeChannelControl({ subscribe: 'lobby' }), hex(`d9d9f7 a1 69${txt('subscribe')} 65${txt('lobby')}`));
  assert.deepEqual(encodeChannelControl({ subscribe: 'lobby', from: 7n }), hex(`d9d9f7 a2 64${txt('from')} 07 69${txt('subscribe')} 65${txt('lobby')}`));
  assert.deepEqual(encodeChannelControl({ unsubscribe: 'lobby' }), hex(`d9d9f7 a1 6b${txt('unsubscribe')} 65${txt('lobby')}`));
  const st = decodeChannelStatus(hex(`d9d9f7 a3 6a${txt('subscribed')} 65${txt('lobby')} 64${txt('head')} 00 65${txt('heads')} a1 65${txt('lobby')} 00`));
  assert.deepEqual(st, { subscribed: 'lobby', head: 0n, unsubscribed: '', reason: '', heads: new Map([['lobby', 0n]]) });
});

/** An S8 with the given parts, in the protocol's order unless keys says otherwise. */
function s8({ channel = 'lobby', first = '00', vals = [C1], keys = ['channel', 'first', 'vals', 'cert', 'tree'], extra = '' } = {}) {
  const parts = {
    channel: `6${channel.length.toString(16)}${txt(channel)}`,
    first,
    vals: `8${vals.length.toString(16)}` + vals.map((v) => `4${v.length.toString(16)}`.replace(/^4(..)$/, '58$1') + Buffer.from(v).toString('hex')).join(''),
    cert: '43010203',
    tree: '4100',
  };
  return hex(`a5` + keys.map((k) => `6${k.length.toString(16)}${txt(k)}${parts[k]}`).join('') + extra);
}

test('S8 decodes, and every malformed one is refused with a reason', () => {
  const f = decodeChannelFrame(s8());
  assert.ok(isChannelFrame(s8()));
  assert.equal(f.channel, 'lobby');
  assert.equal(f.first, 0n);
  assert.deepEqual(f.vals, [C1]);
  assert.deepEqual(f.cert, hex('010203'));
  for (const [name, b, want] of [
    ['keys out of order', s8({ keys: ['channel', 'vals', 'first', 'cert', 'tree'] }), /want "first"/],
    ['no values', s8({ vals: [] }), /0 values/],
    ['trailing bytes', s8({ extra: '00' }), /trailing/],
    ['bad channel name', s8({ channel: 'a~b' }), /not a valid channel name/],
    ['truncated', s8().subarray(0, 30), /channel frame/],
    ['an S6', hex(`a4 63${txt('key')} 60`), /not a channel frame/],
  ]) {
    assert.throws(() => decodeChannelFrame(b), want, name);
  }
  assert.ok(!isChannelFrame(hex(`a4 63${txt('key')}`)));
});

test('C3 with an unknown key, a duplicate and trailing bytes', () => {
  assert.equal(decodeChannelStatus(hex(`d9d9f7 a2 6c${txt('unsubscribed')} 61${txt('x')} 66${txt('reason')} 62${txt('no')}`)).reason, 'no');
  assert.throws(() => decodeChannelStatus(hex(`d9d9f7 a2 64${txt('head')} 00 64${txt('head')} 01`)), /duplicate/);
  assert.throws(() => decodeChannelStatus(hex(`d9d9f7 a1 64${txt('head')} 00 00`)), /trailing/);
  assert.throws(() => decodeChannelStatus(hex(`d9d9f7 a1 65${txt('heads')} a1 61${txt('x')} 61${txt('y')}`)), /want an unsigned integer/);
});
