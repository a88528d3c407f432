// Uses of the icws package that its declarations must refuse (package_test.go expects tsc to
// report each line marked "want TSnnnn" and nothing else).
import { IcWebSocket } from 'icws';

export async function misuse(): Promise<void> {
  const conn = await IcWebSocket.connect({ gateway: 'ws://127.0.0.1:8080', canisterId: 'aaaaa-aa' });
  conn.send('a string, not bytes'); // want TS2345
  await IcWebSocket.connect({ canisterId: 'aaaaa-aa' }); // want TS2345
}

import IcWebSocketEvents, { jsonCodec, type Codec } from 'icws';
const c: Codec<{ text: string }> = jsonCodec;
const ws = new IcWebSocketEvents('ws://127.0.0.1:8080', undefined, { canisterId: 'aaaaa-aa', codec: c });
ws.send({ txt: 'typo' }); // want TS2561
