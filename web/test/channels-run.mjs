// The run of web/test/channels.mjs (Node) and web/test/channels-browser.mjs (Chromium): see there.
// It imports nothing, so a page can load it beside dist/icws.js.

const ROOM = 'lobby';
const CHANNEL = `room:${ROOM}`;
const TIMEOUT_MS = 20_000;
const newOut = () => ({ got: { A: [], B: [], C: [] }, errors: { A: [], B: [], C: [] }, subscriptions: {} });

const te = new TextEncoder();
/** {room, text} as the chat canister takes it: d9d9f7 a2 "room" text "text" text (short texts). */
function roomMessage(text) {
  const s = (x) => { const b = te.encode(x); return [0x60 + b.length, ...b]; };
  return Uint8Array.from([0xd9, 0xd9, 0xf7, 0xa2, ...s('room'), ...s(ROOM), ...s('text'), ...s(text)]);
}
/** The text of a published room message (its "text" field), found by a scan of its CBOR. */
function textOf(payload) {
  const b = payload;
  const pat = te.encode('dtext');
  for (let i = 0; i + pat.length < b.length; i++) {
    if (pat.every((x, j) => b[i + j] === x)) return new TextDecoder().decode(b.subarray(i + 6, i + 6 + b[i + 5] - 0x60));
  }
  return null;
}

/**
 * Runs the scenario with the client class IcWebSocket and cfg {gateway, forging, ic, canister}.
 * @returns {Promise<object>} what each client got and threw
 */
export async function run(IcWebSocket, cfg) {
  const out = newOut();
  const conns = {};
  const loops = [];
  try {
    for (const [name, gw] of [['A', cfg.gateway], ['B', cfg.gateway], ['C', cfg.forging]]) {
      conns[name] = await IcWebSocket.connect({ gateway: gw, ic: cfg.ic, canisterId: cfg.canister, fetchRootKey: true });
    }
    for (const [name, c] of Object.entries(conns)) {
      c.subscribe(CHANNEL);
      loops.push((async () => {
        for (;;) {
          let m;
          try {
            m = await c.recv();
          } catch (e) {
            if (e?.name === 'ClosedError') return;
            out.errors[name].push({ name: e?.name, kind: e?.kind ?? null, message: String(e?.message) });
            if (e?.name === 'VerifyError' && e.fatal) return;
            continue;
          }
          if (m.channel === CHANNEL) out.got[name].push({ text: textOf(m.payload), seq: String(m.seq), key: m.key });
        }
      })());
    }
    const until = async (what, f) => {
      const end = Date.now() + TIMEOUT_MS;
      while (!f()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    for (const [name, c] of Object.entries(conns)) await until(`${name}'s subscription`, () => c.subscriptions.includes(CHANNEL));
    const has = (n, t) => out.got[n].some((m) => m.text === t);
    conns.A.send(roomMessage('one'));
    await until('"one" at A and B', () => has('A', 'one') && has('B', 'one'));
    conns.B.unsubscribe(CHANNEL);
    await until('B unsubscribed', () => !conns.B.subscriptions.includes(CHANNEL));
    conns.A.send(roomMessage('two'));
    conns.A.send(roomMessage('three'));
    await until('"three" at A', () => has('A', 'three'));
    await new Promise((r) => setTimeout(r, 500)); // B would have had it by now, as A and C
    // A moves to gateway2 while B posts: A resubscribes from its next seq, nothing lost or doubled.
    const moving = conns.A.reconnect(cfg.gateway2);
    conns.B.send(roomMessage('four'));
    conns.B.send(roomMessage('five'));
    await moving;
    conns.B.send(roomMessage('six'));
    await until('"six" at A', () => has('A', 'six'));
    conns.A.send(roomMessage('secret'));
    await until('C rejecting the forged frame', () => out.errors.C.length > 0);
    out.subscriptions = Object.fromEntries(Object.entries(conns).map(([n, c]) => [n, c.subscriptions]));
  } catch (e) {
    out.failure = String(e?.stack ?? e);
  } finally {
    for (const c of Object.values(conns)) c.close('done');
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 2000))]);
  }
  return out;
}
