// The real ic-websocket-js 0.5.0 in Node against an icws gateway's Omnia endpoint, run by
// gateway/omnia_node_test.go with the options of session.cjs as JSON in argv[2]. Node 20 has no
// WebSocket and no ErrorEvent: the ws package and a small polyfill stand in, as an app in Node
// would use them. It prints one JSON line per event and exits 0 when the session passed.
"use strict";

globalThis.WebSocket = require("ws");
if (typeof globalThis.ErrorEvent === "undefined") {
  globalThis.ErrorEvent = class ErrorEvent extends Event {
    constructor(type, init) {
      super(type);
      this.error = init && init.error;
      this.message = init && init.error ? String(init.error) : "";
    }
  };
}

const { run } = require("./session.cjs");

const out = (event, extra) => console.log(JSON.stringify({ event, ...extra }, (_, v) => (typeof v === "bigint" ? v.toString() : v)));
run(JSON.parse(process.argv[2]), out).then(
  (ok) => process.exit(ok ? 0 : 1),
  (e) => {
    out("fail", { why: String(e && e.stack ? e.stack : e) });
    process.exit(1);
  },
);
