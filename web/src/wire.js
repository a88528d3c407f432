// The icws wire messages (docs/PROTOCOL.md, S1–S6), byte-compatible with the Go package
// protocol: a small CBOR codec for flat maps with text keys and uint, text or byte-string
// values. Encoding is exact (keys in the seed client's sorted order, shortest integer forms,
// u64 as real 64-bit integers, text as UTF-8). Decoding is strict: one map, text keys, no
// duplicate keys, no indefinite lengths, no trailing bytes, the self-describe tag optional;
// unknown keys are skipped. Integers decode as bigint; byte strings as views into the input.

const SELF_DESCRIBE_TAG = 55799n;
const SELF_DESCRIBE = Uint8Array.of(0xd9, 0xd9, 0xf7);
const MAX_SKIP_DEPTH = 16;
const MAX_U64 = (1n << 64n) - 1n;
/** The most messages an S9 may hold (protocol.MaxBatchVals). */
const MAX_BATCH_VALS = 10_000;

const MAJOR_UINT = 0;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;
const MAJOR_TAG = 6;

const MAJOR_NAMES = ['an unsigned integer', 'a negative integer', 'a byte string', 'a text string',
  'an array', 'a map', 'a tag', 'a simple value or float'];

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** MalformedError is bad CBOR, a wrong type, a missing or duplicate key, or trailing bytes. */
export class MalformedError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'MalformedError';
  }
}

// ---- encoding ----

/** @param {number[]} out @param {number} major @param {bigint|number} n */
function head(out, major, n) {
  const v = BigInt(n);
  if (v < 0n || v > MAX_U64) throw new RangeError(`${n} is not a u64`);
  const m = major << 5;
  if (v < 24n) {
    out.push(m | Number(v));
  } else if (v <= 0xffn) {
    out.push(m | 24, Number(v));
  } else if (v <= 0xffffn) {
    out.push(m | 25, Number(v >> 8n), Number(v & 0xffn));
  } else if (v <= 0xffffffffn) {
    out.push(m | 26);
    for (let s = 24n; s >= 0n; s -= 8n) out.push(Number((v >> s) & 0xffn));
  } else {
    out.push(m | 27);
    for (let s = 56n; s >= 0n; s -= 8n) out.push(Number((v >> s) & 0xffn));
  }
}

/** @param {number[]} out @param {number} major @param {Uint8Array} b */
function str(out, major, b) {
  head(out, major, b.length);
  for (const x of b) out.push(x);
}

/**
 * Encodes a tagged map whose entries are written in the given order.
 * @param {Array<[string, bigint|number|string|Uint8Array]>} entries
 */
function taggedMap(entries) {
  const out = [...SELF_DESCRIBE];
  head(out, MAJOR_MAP, entries.length);
  for (const [k, v] of entries) {
    str(out, MAJOR_TEXT, utf8.encode(k));
    if (typeof v === 'string') str(out, MAJOR_TEXT, utf8.encode(v));
    else if (v instanceof Uint8Array) str(out, MAJOR_BYTES, v);
    else head(out, MAJOR_UINT, v);
  }
  return Uint8Array.from(out);
}

/**
 * S1, the first message: {canister_id, client_id, open_nonce}, tagged, keys sorted; without
 * openNonce (or with 0n), the seed's form {canister_id, client_id}. The client signs its exact
 * bytes.
 * @param {{canisterId: string, clientId: bigint, openNonce?: bigint}} m
 * @returns {Uint8Array}
 */
export function encodeFirstMessage(m) {
  /** @type {Array<[string, bigint|string]>} */
  const entries = [['canister_id', m.canisterId], ['client_id', m.clientId]];
  if (m.openNonce) entries.push(['open_nonce', m.openNonce]);
  return taggedMap(entries);
}

/**
 * The open nonce of a client's next first message: the time in nanoseconds since the Unix epoch,
 * or last + 1 if that is not greater than last (the previous first message's nonce, 0n for
 * none), so that the canister, which refuses a nonce that is not above the last one it accepted,
 * accepts it and no replay of an earlier one. Never 0n.
 * @param {bigint} last @param {number} nowMs the clock, ms since the epoch
 * @returns {bigint}
 */
export function nextOpenNonce(last, nowMs) {
  const n = nowMs > 0 ? BigInt(Math.floor(nowMs)) * 1_000_000n : 0n;
  if (n > last) return n;
  return last < MAX_U64 ? last + 1n : last;
}

/**
 * Decodes S1 (keys in any order; open_nonce optional, never 0).
 * @param {Uint8Array} b
 * @returns {{canisterId: string, clientId: bigint, openNonce: bigint}}
 */
export function decodeFirstMessage(b) {
  const what = 'first message';
  const m = decodeCborMap(what, b, { canister_id: 'text', client_id: 'uint', open_nonce: 'uint' }, ['canister_id', 'client_id']);
  if (m.open_nonce === 0n) throw new MalformedError(`${what}: "open_nonce" is 0 (leave the key out instead)`);
  return {
    canisterId: /** @type {string} */ (m.canister_id),
    clientId: /** @type {bigint} */ (m.client_id),
    openNonce: /** @type {bigint} */ (m.open_nonce ?? 0n),
  };
}

/** S2's "batch" value with which a client asks for S9 frames (protocol.BatchFrames). */
export const BATCH_FRAMES = 1n;

/**
 * S2, the first WebSocket frame: S1's exact bytes and the signature over them, keys
 * client_canister_id then sig; with batch (BATCH_FRAMES to opt in to S9 frames,
 * docs/PROTOCOL.md §13.1) a third key "batch" after them; 0n or none writes the seed's S2.
 * @param {Uint8Array} firstMessage @param {Uint8Array} sig @param {bigint} [batch]
 */
export function encodeSignedFirstMessage(firstMessage, sig, batch = 0n) {
  /** @type {Array<[string, bigint|Uint8Array]>} */
  const entries = [['client_canister_id', firstMessage], ['sig', sig]];
  if (batch) entries.push(['batch', batch]);
  return taggedMap(entries);
}

/**
 * S4 in the client encoding (keys sorted): {ack?, client_id, close?, message, sequence_num,
 * timestamp}. A service message (a keep-alive) has service set, an ack and an empty message; a
 * goodbye is a service message with a close reason as well.
 * @param {{clientId: bigint, seq: bigint, timestamp: bigint, message: Uint8Array,
 *          service?: boolean, ack?: bigint, close?: string}} m
 */
export function encodeClientWebsocketMessage(m) {
  /** @type {Array<[string, bigint|Uint8Array|string]>} */
  const entries = [];
  if (m.service) entries.push(['ack', m.ack ?? 0n]);
  entries.push(['client_id', m.clientId]);
  if (m.service && m.close) entries.push(['close', m.close]);
  entries.push(['message', m.message], ['sequence_num', m.seq], ['timestamp', m.timestamp]);
  return taggedMap(entries);
}

/**
 * S5, a client message frame: the signature and S4's exact bytes, keys sorted (sig, val).
 * @param {Uint8Array} sig @param {Uint8Array} val
 */
export function encodeClientMessage(sig, val) {
  return taggedMap([['sig', sig], ['val', val]]);
}

/**
 * S3, the example canisters' payload {text}.
 * @param {string} s
 */
export function encodeAppMessage(s) {
  return taggedMap([['text', s]]);
}

/**
 * Encodes an application payload as a tagged CBOR map with text keys, written in the order
 * given (sort them for the canonical form): text, unsigned (bigint or safe integer) or bytes
 * values. It is decodeCborMap's counterpart, e.g. chat's room message {room, text}.
 * @param {Array<[string, bigint|number|string|Uint8Array]>} entries
 * @returns {Uint8Array}
 */
export function encodeCborMap(entries) {
  for (const [k, v] of entries) {
    if (typeof k !== 'string') throw new TypeError(`icws: encodeCborMap: key ${String(k)} is not text`);
    if (typeof v === 'number' && !(Number.isSafeInteger(v) && v >= 0)) throw new TypeError(`icws: encodeCborMap: ${k}: ${v} is not an unsigned integer`);
    if (typeof v === 'bigint' && (v < 0n || v >= 1n << 64n)) throw new TypeError(`icws: encodeCborMap: ${k}: ${v} is not a 64-bit unsigned integer`);
    if (!['string', 'number', 'bigint'].includes(typeof v) && !(v instanceof Uint8Array)) throw new TypeError(`icws: encodeCborMap: ${k}: a ${typeof v} cannot be encoded (text, unsigned or bytes)`);
  }
  return taggedMap(entries);
}

// ---- decoding ----

class Reader {
  /** @param {Uint8Array} b */
  constructor(b) {
    this.b = b;
    this.off = 0;
  }

  /** @param {string} msg */
  fail(msg) {
    return new MalformedError(`at byte ${this.off}: ${msg}`);
  }

  /** @returns {[number, bigint]} the major type and argument of one head */
  head() {
    if (this.off >= this.b.length) throw this.fail('unexpected end of input');
    const ib = this.b[this.off];
    const major = ib >> 5;
    const ai = ib & 0x1f;
    if (ai < 24) {
      this.off++;
      return [major, BigInt(ai)];
    }
    let n;
    if (ai === 24) n = 1;
    else if (ai === 25) n = 2;
    else if (ai === 26) n = 4;
    else if (ai === 27) n = 8;
    else if (ai === 31) throw this.fail(`indefinite-length item (initial byte 0x${ib.toString(16)}) is not allowed`);
    else throw this.fail(`reserved additional information in initial byte 0x${ib.toString(16)}`);
    if (this.b.length - this.off - 1 < n) throw this.fail(`unexpected end of input in a ${n}-byte argument`);
    let arg = 0n;
    for (let i = 1; i <= n; i++) arg = (arg << 8n) | BigInt(this.b[this.off + i]);
    this.off += 1 + n;
    return [major, arg];
  }

  /** One head, after any number of self-describe tags. */
  headSkipTag() {
    for (;;) {
      const start = this.off;
      const [major, arg] = this.head();
      if (major !== MAJOR_TAG) return [major, arg];
      if (arg !== SELF_DESCRIBE_TAG) {
        this.off = start;
        throw this.fail(`unexpected tag ${arg}`);
      }
    }
  }

  /** @param {bigint} n @param {string} what */
  span(n, what) {
    if (n > BigInt(this.b.length - this.off)) throw this.fail(`${what} of ${n} bytes runs past the end of the input`);
    const s = this.b.subarray(this.off, this.off + Number(n));
    this.off += Number(n);
    return s;
  }

  /** @param {'uint'|'bytes'|'text'|'uint[]'|'bytes[]'} type @param {string} field */
  value(type, field) {
    if (type === 'uint[]' || type === 'bytes[]') return this.array(type === 'uint[]' ? 'uint' : 'bytes', field);
    const [major, arg] = this.headSkipTag();
    const want = { uint: MAJOR_UINT, bytes: MAJOR_BYTES, text: MAJOR_TEXT }[type];
    if (major !== want) {
      throw this.fail(`field "${field}": want ${MAJOR_NAMES[want]}, got ${MAJOR_NAMES[major]}`);
    }
    if (type === 'uint') return arg;
    const b = this.span(arg, MAJOR_NAMES[major]);
    if (type === 'bytes') return b;
    try {
      return strictUtf8.decode(b);
    } catch {
      throw this.fail(`field "${field}": text is not valid UTF-8`);
    }
  }

  /**
   * Reads an array of 1 to MAX_BATCH_VALS items of one type (S9's nonces and vals).
   * @param {'uint'|'bytes'} type @param {string} field
   */
  array(type, field) {
    const [major, n] = this.headSkipTag();
    if (major !== MAJOR_ARRAY) throw this.fail(`field "${field}": want an array, got ${MAJOR_NAMES[major]}`);
    if (n === 0n || n > BigInt(MAX_BATCH_VALS)) throw this.fail(`field "${field}": ${n} items, want 1 to ${MAX_BATCH_VALS}`);
    if (n > BigInt(this.b.length - this.off)) throw this.fail(`field "${field}": array of ${n} items is longer than the input`);
    const out = [];
    for (let i = 0n; i < n; i++) out.push(this.value(type, field));
    return out;
  }

  /** Skips one data item of any kind. @param {number} depth */
  skip(depth) {
    if (depth > MAX_SKIP_DEPTH) throw this.fail(`nested deeper than ${MAX_SKIP_DEPTH} levels`);
    const [major, arg] = this.head();
    switch (major) {
      case MAJOR_BYTES:
      case MAJOR_TEXT:
        this.span(arg, 'string');
        return;
      case MAJOR_TAG:
        this.skip(depth + 1);
        return;
      case MAJOR_ARRAY:
      case MAJOR_MAP: {
        const n = major === MAJOR_MAP ? 2n * arg : arg;
        if (n > BigInt(this.b.length - this.off)) throw this.fail(`container of ${n} items is longer than the input`);
        for (let i = 0n; i < n; i++) this.skip(depth + 1);
        return;
      }
      default:
        // Integers, simple values and floats: the head was the whole item.
    }
  }
}

/**
 * Decodes a whole input that must be one flat CBOR map with text keys, such as an application
 * payload: {text} for echo, {text, from}, {join} or {leave} for chat. Keys not in fields are
 * skipped; a key of fields with a value of another type is an error.
 * @param {string} what the message's name, for errors
 * @param {Uint8Array} b
 * @param {Record<string, 'uint'|'bytes'|'text'|'uint[]'|'bytes[]'>} fields the known keys and their types
 * @param {string[]} required
 * @returns {Record<string, bigint|Uint8Array|string>}
 */
export function decodeCborMap(what, b, fields, required) {
  if (!(b instanceof Uint8Array)) throw new MalformedError(`${what}: not bytes`);
  const r = new Reader(b);
  /** @type {Record<string, any>} */
  const out = {};
  const seen = new Set();
  try {
    const [major, n] = r.headSkipTag();
    if (major !== MAJOR_MAP) throw r.fail(`want a map, got ${MAJOR_NAMES[major]}`);
    if (n > BigInt(b.length)) throw r.fail(`map of ${n} entries is longer than the input`);
    for (let i = 0n; i < n; i++) {
      const [kmajor, klen] = r.head();
      if (kmajor !== MAJOR_TEXT) throw r.fail(`map key is ${MAJOR_NAMES[kmajor]}, want a text string`);
      const kb = r.span(klen, 'map key');
      let key;
      try {
        key = strictUtf8.decode(kb);
      } catch {
        throw r.fail('map key is not valid UTF-8');
      }
      if (seen.has(key)) throw r.fail(`duplicate key "${key}"`);
      seen.add(key);
      if (Object.hasOwn(fields, key)) out[key] = r.value(fields[key], key);
      else r.skip(0);
    }
    if (r.off !== b.length) throw r.fail(`${b.length - r.off} trailing bytes`);
  } catch (e) {
    if (e instanceof MalformedError) throw new MalformedError(`${what}: ${e.message}`);
    throw e;
  }
  for (const k of required) {
    if (!seen.has(k)) throw new MalformedError(`${what}: missing field "${k}"`);
  }
  return out;
}

/**
 * @typedef {object} CertMessage S6, one canister message as the gateway relays it.
 * @property {string} key the message's key in the canister's certified map
 * @property {Uint8Array} val the exact S4 bytes whose SHA-256 is certified
 * @property {Uint8Array} cert the IC certificate
 * @property {Uint8Array} tree the tagged CBOR witness
 */

/**
 * Decodes S6 {key, val, cert, tree}.
 * @param {Uint8Array} b
 * @returns {CertMessage}
 */
export function decodeCertMessage(b) {
  const m = decodeCborMap('cert message', b, { key: 'text', val: 'bytes', cert: 'bytes', tree: 'bytes' },
    ['key', 'val', 'cert', 'tree']);
  return /** @type {CertMessage} */ (/** @type {unknown} */ (m));
}

/**
 * @typedef {object} WebsocketMessage S4, a message of either direction.
 * @property {bigint} clientId
 * @property {bigint} seq
 * @property {bigint} timestamp nanoseconds since the Unix epoch
 * @property {Uint8Array} message the application payload (empty in service messages)
 * @property {boolean} service a service message (it has "ack")
 * @property {bigint} ack in a service message: the next sequence number the sender expects
 * @property {bigint} ackTime in a canister service message: the IC time (ns) the canister accepted
 *   client message ack − 1 (or opened the client, if later); 0n from a canister without it
 * @property {string} close in a canister service message: why the canister closed the connection
 */

/**
 * Decodes S4 in either encoding.
 * @param {Uint8Array} b
 * @returns {WebsocketMessage}
 */
export function decodeWebsocketMessage(b) {
  const what = 'websocket message';
  const m = decodeCborMap(what, b, {
    client_id: 'uint', sequence_num: 'uint', timestamp: 'uint', message: 'bytes', ack: 'uint', ack_time: 'uint', close: 'text',
  }, ['client_id', 'sequence_num', 'timestamp', 'message']);
  const service = m.ack !== undefined;
  if (m.close !== undefined && !service) throw new MalformedError(`${what}: "close" without "ack"`);
  if (m.ack_time !== undefined && !service) throw new MalformedError(`${what}: "ack_time" without "ack"`);
  if (m.close === '') throw new MalformedError(`${what}: empty "close" reason`);
  return {
    clientId: /** @type {bigint} */ (m.client_id),
    seq: /** @type {bigint} */ (m.sequence_num),
    timestamp: /** @type {bigint} */ (m.timestamp),
    message: /** @type {Uint8Array} */ (m.message),
    service,
    ack: /** @type {bigint} */ (m.ack ?? 0n),
    ackTime: /** @type {bigint} */ (m.ack_time ?? 0n),
    close: /** @type {string} */ (m.close ?? ''),
  };
}

/**
 * Decodes S3, the payload {text} of the example canisters. Other keys are ignored.
 * @param {Uint8Array} b
 * @returns {{text: string}}
 */
export function decodeAppMessage(b) {
  const m = decodeCborMap('app message', b, { text: 'text' }, ['text']);
  return { text: /** @type {string} */ (m.text) };
}

// ---- batched frames (docs/PROTOCOL.md §13) ----

/** The first bytes of every S9: map(5), text(7) "gateway" (protocol.BatchFramePrefix). */
const BATCH_FRAME_PREFIX = Uint8Array.of(0xa5, 0x67, 0x67, 0x61, 0x74, 0x65, 0x77, 0x61, 0x79);

/** Whether frame b is an S9 batch frame (by its prefix; no S6 or S8 starts so). @param {Uint8Array} b */
export function isBatchFrame(b) {
  if (b.length < BATCH_FRAME_PREFIX.length) return false;
  for (let i = 0; i < BATCH_FRAME_PREFIX.length; i++) if (b[i] !== BATCH_FRAME_PREFIX[i]) return false;
  return true;
}

/**
 * The certified-map key of a gateway's message: gateway_nonce, the nonce zero-padded to 20
 * digits (protocol.KeyFor, docs/PROTOCOL.md §4).
 * @param {string} gateway @param {bigint} nonce
 */
export function messageKey(gateway, nonce) {
  return `${gateway}_${nonce.toString().padStart(20, '0')}`;
}

/**
 * @typedef {object} BatchFrame S9, the messages of one poll batch for one client.
 * @property {string} gateway the key prefix: the key of vals[i] is messageKey(gateway, nonces[i])
 * @property {bigint[]} nonces strictly increasing, as many as vals
 * @property {Uint8Array[]} vals the certified S4 values
 * @property {Uint8Array} cert
 * @property {Uint8Array} tree
 */

/**
 * Decodes S9 {gateway, nonces, vals, cert, tree} as protocol.DecodeBatchFrame does: §2's rules
 * (tag optional, unknown keys skipped), 1 to 10 000 nonces strictly increasing and as many vals,
 * a gateway part that is non-empty and has no '_'.
 * @param {Uint8Array} b
 * @returns {BatchFrame}
 */
export function decodeBatchFrame(b) {
  const what = 'batch frame';
  const m = /** @type {any} */ (decodeCborMap(what, b, { gateway: 'text', nonces: 'uint[]', vals: 'bytes[]', cert: 'bytes', tree: 'bytes' },
    ['gateway', 'nonces', 'vals', 'cert', 'tree']));
  if (m.gateway === '' || m.gateway.includes('_')) throw new MalformedError(`${what}: gateway ${JSON.stringify(m.gateway)} is not a key prefix (empty or with '_')`);
  for (let i = 1; i < m.nonces.length; i++) {
    if (m.nonces[i] <= m.nonces[i - 1]) throw new MalformedError(`${what}: field "nonces": nonce ${m.nonces[i]} follows ${m.nonces[i - 1]}, want strictly increasing`);
  }
  if (m.nonces.length !== m.vals.length) throw new MalformedError(`${what}: ${m.nonces.length} nonces for ${m.vals.length} values`);
  return m;
}

// ---- certified channels (docs/PROTOCOL.md §12) ----

/** The first bytes of every S8 channel frame: map(5), text(7) "channel". */
const CHANNEL_FRAME_PREFIX = Uint8Array.of(0xa5, 0x67, 0x63, 0x68, 0x61, 0x6e, 0x6e, 0x65, 0x6c);

/** The most values an S8 may hold. */
const MAX_CHANNEL_VALS = 10_000;

/** Whether frame b is an S8 channel frame (by its prefix; an S6 starts map(4) "key"). @param {Uint8Array} b */
export function isChannelFrame(b) {
  if (b.length < CHANNEL_FRAME_PREFIX.length) return false;
  for (let i = 0; i < CHANNEL_FRAME_PREFIX.length; i++) if (b[i] !== CHANNEL_FRAME_PREFIX[i]) return false;
  return true;
}

/** A valid channel name: 1 to 64 of A–Z a–z 0–9 - _ . : / (protocol.ValidateChannel). */
export const CHANNEL_NAME = /^[A-Za-z0-9_.:/-]{1,64}$/;

/**
 * C2, a channel request: {subscribe} (with from: a resubscription after a reconnect, map keys
 * from, subscribe) or {unsubscribe}; tagged.
 * @param {{subscribe?: string, from?: bigint, unsubscribe?: string}} c
 */
export function encodeChannelControl(c) {
  if (c.subscribe !== undefined) {
    return c.from === undefined ? taggedMap([['subscribe', c.subscribe]]) : taggedMap([['from', c.from], ['subscribe', c.subscribe]]);
  }
  return taggedMap([['unsubscribe', /** @type {string} */ (c.unsubscribe)]]);
}

/**
 * @typedef {object} ChannelFrame S8, one channel batch as the gateway relays it.
 * @property {string} channel
 * @property {bigint} first the seq of vals[0]
 * @property {Uint8Array[]} vals the certified C1 values
 * @property {Uint8Array} cert
 * @property {Uint8Array} tree
 */

/**
 * Decodes S8 {channel, first, vals, cert, tree} (untagged, in this order).
 * @param {Uint8Array} b
 * @returns {ChannelFrame}
 */
export function decodeChannelFrame(b) {
  const r = new Reader(b);
  try {
    if (!isChannelFrame(b)) throw r.fail('not a channel frame (want map(5) starting with "channel")');
    const [major, n] = r.head();
    if (major !== MAJOR_MAP || n !== 5n) throw r.fail('want a map of 5 entries');
    /** @type {any} */
    const out = {};
    for (const [k, type] of /** @type {const} */ ([['channel', 'text'], ['first', 'uint'], ['vals', 'array'], ['cert', 'bytes'], ['tree', 'bytes']])) {
      const key = r.value('text', 'key');
      if (key !== k) throw r.fail(`key "${key}", want "${k}" (the keys are channel, first, vals, cert, tree, in this order)`);
      if (type !== 'array') {
        out[k] = r.value(type, k);
        continue;
      }
      const [am, an] = r.head();
      if (am !== MAJOR_ARRAY) throw r.fail(`field "vals": want an array, got ${MAJOR_NAMES[am]}`);
      if (an < 1n || an > BigInt(MAX_CHANNEL_VALS)) throw r.fail(`field "vals": ${an} values, want 1 to ${MAX_CHANNEL_VALS}`);
      if (an > BigInt(b.length - r.off)) throw r.fail(`field "vals": ${an} values are longer than the input`);
      out.vals = [];
      for (let i = 0n; i < an; i++) out.vals.push(r.value('bytes', 'vals'));
    }
    if (r.off !== b.length) throw r.fail(`${b.length - r.off} trailing bytes`);
    if (!CHANNEL_NAME.test(out.channel)) throw r.fail(`channel ${JSON.stringify(out.channel)} is not a valid channel name`);
    if (out.first + BigInt(out.vals.length) > MAX_U64) throw r.fail('first + the number of values overflows 64 bits');
    return out;
  } catch (e) {
    if (e instanceof MalformedError) throw new MalformedError(`channel frame: ${e.message}`);
    throw e;
  }
}

/**
 * Decodes C1, a certified channel message {channel, seq, timestamp, message}.
 * @param {Uint8Array} b
 * @returns {{channel: string, seq: bigint, timestamp: bigint, message: Uint8Array}}
 */
export function decodeChannelMessage(b) {
  const m = decodeCborMap('channel message', b, { channel: 'text', seq: 'uint', timestamp: 'uint', message: 'bytes' },
    ['channel', 'seq', 'timestamp', 'message']);
  return /** @type {any} */ (m);
}

/**
 * @typedef {object} ChannelStatus C3, in the message of a canister service message.
 * @property {string} subscribed
 * @property {bigint} head with subscribed: where the client's stream starts
 * @property {string} unsubscribed
 * @property {string} reason with unsubscribed
 * @property {Map<string, bigint>|null} heads the next seq of every channel the client is subscribed to
 */

/**
 * Decodes C3 {subscribed, head, unsubscribed, reason, heads}, each optional, heads a map text → uint.
 * @param {Uint8Array} b
 * @returns {ChannelStatus}
 */
export function decodeChannelStatus(b) {
  const r = new Reader(b);
  /** @type {ChannelStatus} */
  const st = { subscribed: '', head: 0n, unsubscribed: '', reason: '', heads: null };
  try {
    const [major, n] = r.headSkipTag();
    if (major !== MAJOR_MAP) throw r.fail(`want a map, got ${MAJOR_NAMES[major]}`);
    if (n > 5n) throw r.fail(`map of ${n} entries, want at most 5`);
    const seen = new Set();
    for (let i = 0n; i < n; i++) {
      const key = r.value('text', 'key');
      if (seen.has(key)) throw r.fail(`duplicate key "${key}"`);
      seen.add(key);
      switch (key) {
        case 'subscribed': case 'unsubscribed': case 'reason':
          st[key] = /** @type {string} */ (r.value('text', key));
          break;
        case 'head':
          st.head = /** @type {bigint} */ (r.value('uint', key));
          break;
        case 'heads': {
          const [hm, hn] = r.head();
          if (hm !== MAJOR_MAP) throw r.fail(`field "heads": want a map, got ${MAJOR_NAMES[hm]}`);
          if (hn > BigInt(b.length - r.off)) throw r.fail(`field "heads": ${hn} entries are longer than the input`);
          st.heads = new Map();
          for (let j = 0n; j < hn; j++) {
            const ch = /** @type {string} */ (r.value('text', 'heads'));
            if (st.heads.has(ch)) throw r.fail(`field "heads": channel ${JSON.stringify(ch)} twice`);
            st.heads.set(ch, /** @type {bigint} */ (r.value('uint', 'heads')));
          }
          break;
        }
        default:
          r.skip(0);
      }
    }
    if (r.off !== b.length) throw r.fail(`${b.length - r.off} trailing bytes`);
  } catch (e) {
    if (e instanceof MalformedError) throw new MalformedError(`channel status: ${e.message}`);
    throw e;
  }
  return st;
}
