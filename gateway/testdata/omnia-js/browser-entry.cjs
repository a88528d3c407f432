// The browser side of gateway/omnia_node_test.go's Chromium test: session.cjs, bundled by esbuild
// with ic-websocket-js 0.5.0 and agent-js 2 into one script for a page, which exposes
// window.omniaRun(opts) → {ok, events}. The browser has WebSocket and ErrorEvent of its own.
"use strict";

const { run } = require("./session.cjs");

window.omniaRun = async (opts) => {
  const events = [];
  const out = (event, extra) => events.push(JSON.parse(JSON.stringify({ event, ...extra }, (_, v) => (typeof v === "bigint" ? v.toString() : v))));
  try {
    return { ok: await run(opts, out), events };
  } catch (e) {
    out("fail", { why: String(e && e.stack ? e.stack : e) });
    return { ok: false, events };
  }
};
