// End-to-end run of the browser client's certified channels in Node (its WebSocket), driven by
// web/channels_test.go against a real replica (the chat canister's rooms) and gateway:
//
//   node --experimental-websocket web/test/channels.mjs '{"gateway": url, "forging": url, "ic": url, "canister": id}'
//
// A and B subscribe to room:lobby through the gateway, C through a proxy that changes one byte
// of every channel frame holding the text "secret". A posts "one": A and B get it, verified.
// (After "three", A reconnects to gateway2 while B posts "four", "five", then "six": A gets
// each once, in order, by its resubscription.)
// B unsubscribes; A posts "two" and "three": A gets both, B neither. A posts "secret": C reports
// a tampered VerifyError. It prints one JSON object; the Go test checks it.
import { IcWebSocket } from '../src/icws.js';
import { run } from './channels-run.mjs';

const cfg = JSON.parse(process.argv[2] ?? '{}');
console.log(JSON.stringify(await run(IcWebSocket, cfg)));
process.exit(0);
