// Verifies canister messages as ic-websocket-js 0.5's isMessageBodyValid (src/utils.ts) does,
// step for step, with @dfinity/agent, then decodes each content with the agent's Cbor as its
// onWsMessage does. Reads JSON {rootKey, canisterId, messages: [{key, content, cert, tree}]} (hex)
// on stdin; prints JSON [{valid, error?, sequence_num, is_service_message, content}].
import { Cbor, Certificate, lookup_path, lookupResultToBuffer, reconstruct } from '@dfinity/agent';
import { Principal } from '@dfinity/principal';
import { createHash } from 'node:crypto';

const unhex = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
const hex = (b) => Buffer.from(b).toString('hex');
const equal = (a, b) => Buffer.from(a).equals(Buffer.from(b));

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { rootKey, canisterId, messages } = JSON.parse(input);
const canister = Principal.fromText(canisterId);

async function isMessageBodyValid(path, body, certificate, tree) {
  const cert = await Certificate.create({ certificate, canisterId: canister, rootKey: unhex(rootKey), maxAgeInMinutes: 5 });
  const hashTree = Cbor.decode(tree);
  const reconstructed = await reconstruct(hashTree);
  const witness = lookupResultToBuffer(cert.lookup_path(['canister', canister.toUint8Array(), 'certified_data']));
  if (!witness) throw new Error('no certified data for this canister in the certificate');
  if (!equal(witness, reconstructed)) throw new Error('witness != tree');
  const sha = createHash('sha256').update(body).digest();
  let treeSha = lookupResultToBuffer(lookup_path(['websocket', path], hashTree));
  if (!treeSha) treeSha = lookupResultToBuffer(lookup_path(['websocket'], hashTree));
  if (!treeSha) throw new Error(`the tree does not contain ${path}`);
  if (!equal(sha, treeSha)) throw new Error('sha256(content) != tree value');
  return true;
}

const out = [];
for (const m of messages) {
  const r = {};
  try {
    r.valid = await isMessageBodyValid(m.key, unhex(m.content), unhex(m.cert), unhex(m.tree));
  } catch (e) {
    r.valid = false;
    r.error = String(e);
  }
  const w = Cbor.decode(unhex(m.content));
  r.sequence_num = String(w.sequence_num);
  r.is_service_message = w.is_service_message;
  r.content = hex(w.content);
  out.push(r);
}
console.log(JSON.stringify(out));
