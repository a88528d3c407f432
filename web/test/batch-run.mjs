// The browser run of TestBatchFramesBrowser (web/batch_test.go), in Chromium through
// web/test/channels-browser.mjs (cfg.script "/batch-run.mjs"). It imports nothing, so a page can
// load it beside dist/icws.js. For each mode (a relay in front of a real gateway: plain, single,
// drop, swap, forge, replay) one client connects (single: batchFrames false), sends "many a,b,c"
// (the canister sends the three back in one update: one S9 frame) and then "many d,e,f", and
// records the texts delivered and the errors thrown, until six texts or a fatal error.

const MODES = ['plain', 'single', 'drop', 'swap', 'forge', 'replay'];
const TIMEOUT_MS = 20_000;

const te = new TextEncoder();
/** {text} as the canister takes it: d9d9f7 a1 "text" text (short texts). */
function appMessage(text) {
  const s = (x) => { const b = te.encode(x); return [0x60 + b.length, ...b]; };
  return Uint8Array.from([0xd9, 0xd9, 0xf7, 0xa1, ...s('text'), ...s(text)]);
}
/** The text of an app message {text} (short texts), found by a scan of its CBOR. */
function textOf(b) {
  const pat = te.encode('dtext');
  for (let i = 0; i + pat.length < b.length; i++) {
    if (pat.every((x, j) => b[i + j] === x)) return new TextDecoder().decode(b.subarray(i + 6, i + 6 + b[i + 5] - 0x60));
  }
  return null;
}

/**
 * One mode: connects through gateway, sends the two batches, receives until six texts, a fatal
 * error or the timeout.
 */
async function runMode(IcWebSocket, cfg, mode) {
  const out = { got: [], errors: [] };
  const c = await IcWebSocket.connect({ gateway: cfg[mode], ic: cfg.ic, canisterId: cfg.canister, fetchRootKey: true, batchFrames: mode !== 'single' });
  try {
    const end = Date.now() + TIMEOUT_MS;
    const recv = () => Promise.race([c.recv(), new Promise((_, reject) => setTimeout(() => reject(new Error(`${mode}: timed out after ${out.got.length} texts`)), Math.max(0, end - Date.now())))]);
    c.send(appMessage('many a,b,c'));
    let sentSecond = false;
    while (out.got.length < 6) {
      if (out.got.length >= 3 && !sentSecond) {
        c.send(appMessage('many d,e,f'));
        sentSecond = true;
      }
      let m;
      try {
        m = await recv();
      } catch (e) {
        if (e?.name === 'VerifyError' || e?.name === 'CloseError') {
          out.errors.push({ name: e.name, kind: e.kind ?? null, message: String(e.message) });
          if (e.fatal) break;
          continue;
        }
        throw e;
      }
      out.got.push(textOf(m.payload));
    }
  } finally {
    c.close('done');
  }
  return out;
}

/**
 * Runs every mode with the client class IcWebSocket and cfg {ic, canister, <mode>: gateway URL}.
 * @returns {Promise<object>} {modes: {<mode>: {got, errors}}} or {failure}
 */
export async function run(IcWebSocket, cfg) {
  const modes = {};
  try {
    for (const mode of MODES) modes[mode] = await runMode(IcWebSocket, cfg, mode);
  } catch (e) {
    return { modes, failure: String(e?.stack ?? e) };
  }
  return { modes };
}
