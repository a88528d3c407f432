// A dapp's use of the icws package, type-checked by package_test.go with tsc against
// web/icws.d.ts, resolved as the npm package "icws" (its package.json "exports").
import { CloseError, IcWebSocket, VerifyError, decodeAppMessage, encodeAppMessage, isFatal } from 'icws';
import type { Message, Options } from 'icws';

const opts: Options = {
  gateway: 'ws://127.0.0.1:8080',
  ic: 'http://127.0.0.1:4943',
  canisterId: 'lxzze-o7777-77777-aaaaa-cai',
  fetchRootKey: true,
};

export async function chat(): Promise<string[]> {
  const conn = await IcWebSocket.connect(opts);
  const seq: bigint = conn.send(encodeAppMessage('hello'));
  const texts: string[] = [`sent ${seq}`];
  for (;;) {
    let m: Message;
    try {
      m = await conn.recv();
    } catch (e) {
      if (e instanceof VerifyError && !e.fatal) continue;
      if (e instanceof CloseError && e.reconnect) {
        await conn.reconnect('ws://127.0.0.1:8081');
        continue;
      }
      if (isFatal(e)) break;
      continue;
    }
    texts.push(decodeAppMessage(m.payload).text);
    if (texts.length > 3) break;
  }
  conn.close('bye');
  return texts;
}

// The ic-websocket-js shape, with a typed codec.
import IcWebSocketDefault, { jsonCodec as json } from 'icws';
import type { Codec } from 'icws';

type Chat = { text: string };
const chatCodec: Codec<Chat> = json;
const ws = new IcWebSocketDefault<Chat>('ws://127.0.0.1:8080', undefined, {
  canisterId: 'lxzze-o7777-77777-aaaaa-cai',
  networkUrl: 'http://127.0.0.1:4943',
  fetchRootKey: true,
  codec: chatCodec,
});
ws.onopen = () => { ws.send({ text: 'hi' }); };
ws.onmessage = (ev) => { const t: string = ev.data.text; void t; void ev.message.seq; };
ws.onerror = (ev) => { if (ev.fatal) console.error(ev.error.message); };
ws.onclose = (ev) => { console.log(ev.code, ev.reason, ev.wasClean); };
