// Client-side pacing (docs/PROTOCOL.md §7.1), the same rules as the Go client's (package client,
// pacing.go): a gateway closes a client (code 4004) that has more than MAX_PENDING_FRAMES frames
// (or MAX_PENDING_BYTES) waiting for the canister, or that sends faster than MESSAGE_RATE frames
// a second in bursts of MESSAGE_BURST. The client therefore writes the frame with sequence number
// n only when
//   - n < ack + MAX_PENDING_FRAMES, and the frames written from ack to n fit in MAX_PENDING_BYTES,
//     where ack is the canister's latest acknowledgement (a service message; the canister sends
//     one every ACK_INTERVAL accepted messages). Until the canister has acknowledged anything,
//     each frame beyond that waits for a slow token (one per FALLBACK_INTERVAL_MS) instead, which
//     moves the window by one;
//   - a token of a bucket of MESSAGE_BURST / 2 tokens refilled at MESSAGE_RATE a second is
//     available (the other half of the gateway's burst absorbs the bunching of frames on the way).

/** Frames a gateway holds for the canister, at most; the client's window (protocol.MaxPendingFrames). */
export const MAX_PENDING_FRAMES = 16;
/** Bytes of those frames, at most (protocol.MaxPendingBytes). */
export const MAX_PENDING_BYTES = 4 << 20;
/** The gateway's sustained rate, frames per second (protocol.MessageRate). */
export const MESSAGE_RATE = 20;
/** The gateway's burst (protocol.MessageBurst). */
export const MESSAGE_BURST = 40;
/** The canister acknowledges at least every this many accepted messages (protocol.AckInterval). */
export const ACK_INTERVAL = MAX_PENDING_FRAMES / 2;
/** Without acknowledgements, one frame beyond the window per this many ms (protocol.FallbackInterval). */
export const FALLBACK_INTERVAL_MS = 2000;

/** Pacer decides when each frame may be written. One per connection; its clock is injectable. */
export class Pacer {
  /** @type {() => number} */ #now;
  #acked = 0n;
  #assumed = 0n;
  #acknowledging = false;
  /** @type {{seq: bigint, size: number}[]} written and not acknowledged, in sequence order */
  #written = [];
  #tokens = MESSAGE_BURST / 2;
  #refilled;
  #fallbackAt;

  /** @param {{now?: () => number}} [opts] now is the clock in ms (default Date.now) */
  constructor(opts = {}) {
    this.#now = opts.now ?? (() => Date.now());
    this.#refilled = this.#now();
    this.#fallbackAt = this.#refilled + FALLBACK_INTERVAL_MS;
  }

  /** The canister's acknowledgement: it accepted every message below this sequence number. */
  get acked() {
    return this.#acked;
  }

  /** Whether the canister has sent an acknowledgement (so the window follows them). */
  get acknowledging() {
    return this.#acknowledging;
  }

  /**
   * Records a canister acknowledgement (the ack of any of its service messages).
   * @param {bigint} next the canister accepted every message below it
   */
  ack(next) {
    this.#acknowledging = true;
    if (next <= this.#acked) return;
    this.#acked = next;
    let i = 0;
    while (i < this.#written.length && this.#written[i].seq < next) i++;
    this.#written.splice(0, i);
  }

  /**
   * How long the frame with sequence number seq, of size bytes, must wait before it is written:
   * 0 means write it now (the pacer took its token; call wrote), Infinity means until the next
   * acknowledgement, and anything else is a number of ms after which to ask again.
   * @param {bigint} seq @param {number} size
   * @returns {number}
   */
  delay(seq, size) {
    const now = this.#now();
    for (;;) {
      const base = this.#acknowledging ? this.#acked : (this.#assumed > this.#acked ? this.#assumed : this.#acked);
      if (!this.#fits(base, seq, size)) {
        if (this.#acknowledging) return Infinity;
        if (now < this.#fallbackAt) return Math.max(1, Math.ceil(this.#fallbackAt - now));
        // A fallback token: assume the gateway passed one more frame on.
        this.#assumed = base + 1n;
        this.#fallbackAt = now + FALLBACK_INTERVAL_MS;
        while (this.#written.length > 0 && this.#written[0].seq < this.#assumed) this.#written.shift();
        continue;
      }
      const rate = MESSAGE_RATE / 1000;
      this.#tokens = Math.min(MESSAGE_BURST / 2, this.#tokens + Math.max(0, now - this.#refilled) * rate);
      this.#refilled = now;
      if (this.#tokens < 1) return Math.max(1, Math.ceil((1 - this.#tokens) / rate));
      this.#tokens -= 1;
      return 0;
    }
  }

  /** @param {bigint} base @param {bigint} seq @param {number} size */
  #fits(base, seq, size) {
    if (seq >= base + BigInt(MAX_PENDING_FRAMES)) return false;
    let pending = 0;
    for (const w of this.#written) if (w.seq >= base && w.seq < seq) pending += w.size;
    return pending === 0 || pending + size <= MAX_PENDING_BYTES;
  }

  /**
   * Starts over on a new socket (a reconnection): a full rate allowance, as the gateway gives
   * every new connection, and nothing written through it yet. The canister's acknowledgements
   * carry over.
   */
  reset() {
    this.#tokens = MESSAGE_BURST / 2;
    this.#refilled = this.#now();
    this.#written = [];
  }

  /**
   * Records that the frame with sequence number seq, of size bytes, was written.
   * @param {bigint} seq @param {number} size
   */
  wrote(seq, size) {
    if (seq >= this.#acked) this.#written.push({ seq, size });
  }
}
