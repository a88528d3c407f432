// Encodes the golden values of golden_test.go with @dfinity/candid's IDL, the types written as
// ic-websocket-js 0.5 (src/idl.ts) and ic-websocket-cdk 0.4 (ws_types.did) declare them, and
// decodes the CBOR WebsocketMessage given on the command line with @dfinity/agent's Cbor, as
// ic-websocket-js does. Prints one JSON object. Usage: node idl.mjs <client hex> <gateway hex>
// <nonce> <websocket message cbor hex> <output message content hex>
import { IDL } from '@dfinity/candid';
import { Principal } from '@dfinity/principal';
import { Cbor } from '@dfinity/agent';

const [clientHex, gatewayHex, nonceText, cborHex, contentHex] = process.argv.slice(2);
const unhex = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
const hex = (b) => Buffer.from(b).toString('hex');
const client = Principal.fromUint8Array(unhex(clientHex));
const gateway = Principal.fromUint8Array(unhex(gatewayHex));
const clientKey = { client_principal: client, client_nonce: BigInt(nonceText) };

const ClientKey = IDL.Record({ client_principal: IDL.Principal, client_nonce: IDL.Nat64 });
const WebsocketMessage = IDL.Record({
  sequence_num: IDL.Nat64, content: IDL.Vec(IDL.Nat8), client_key: ClientKey,
  timestamp: IDL.Nat64, is_service_message: IDL.Bool,
});
const Result = IDL.Variant({ Ok: IDL.Null, Err: IDL.Text });
const OutputMessage = IDL.Record({ client_key: ClientKey, key: IDL.Text, content: IDL.Vec(IDL.Nat8) });
const Certified = IDL.Record({
  messages: IDL.Vec(OutputMessage), cert: IDL.Vec(IDL.Nat8), tree: IDL.Vec(IDL.Nat8), is_end_of_queue: IDL.Bool,
});
const MessagesResult = IDL.Variant({ Ok: Certified, Err: IDL.Text });
const LastSeq = IDL.Record({ last_incoming_sequence_num: IDL.Nat64 });
const Reason = IDL.Variant({
  WrongSequenceNumber: IDL.Null, InvalidServiceMessage: IDL.Null, KeepAliveTimeout: IDL.Null, ClosedByApplication: IDL.Null,
});
const Service = IDL.Variant({
  OpenMessage: IDL.Record({ client_key: ClientKey }), AckMessage: LastSeq, KeepAliveMessage: LastSeq,
  CloseMessage: IDL.Record({ reason: Reason }),
});
const AppMessage = IDL.Record({ text: IDL.Text, timestamp: IDL.Nat64 });

const app = IDL.encode([AppMessage], [{ text: 'ping', timestamp: 1796423100000000000n }]);
const wsMessage = {
  client_key: clientKey, sequence_num: 1n, timestamp: 1796423100000000000n, is_service_message: false, content: app,
};
const key0 = `${gateway.toText()}_${'0'.repeat(20)}`;
const enc = (types, values) => hex(IDL.encode(types, values));
const out = {
  app: hex(app),
  open: enc([IDL.Record({ client_nonce: IDL.Nat64, gateway_principal: IDL.Principal })],
    [{ client_nonce: BigInt(nonceText), gateway_principal: gateway }]),
  close: enc([IDL.Record({ client_key: ClientKey })], [{ client_key: clientKey }]),
  // ic-websocket-js's wsMessageIdl: the second argument typed opt null, sent as null.
  message: enc([IDL.Record({ msg: WebsocketMessage }), IDL.Opt(IDL.Null)], [{ msg: wsMessage }, []]),
  getMessages: enc([IDL.Record({ nonce: IDL.Nat64 })], [{ nonce: 12345n }]),
  resultOk: enc([Result], [{ Ok: null }]),
  resultErr: enc([Result], [{ Err: 'Invalid service message' }]),
  messagesOk: enc([MessagesResult], [{ Ok: {
    messages: [{ client_key: clientKey, key: key0, content: unhex(contentHex) }],
    cert: Uint8Array.of(1, 2, 3), tree: Uint8Array.of(4, 5), is_end_of_queue: true,
  } }]),
  messagesEmpty: enc([MessagesResult], [{ Ok: { messages: [], cert: [], tree: [], is_end_of_queue: true } }]),
  messagesErr: enc([MessagesResult], [{ Err: 'Gateway with principal x is not registered' }]),
  svcOpen: enc([Service], [{ OpenMessage: { client_key: clientKey } }]),
  svcAck: enc([Service], [{ AckMessage: { last_incoming_sequence_num: 7n } }]),
  svcKeepAlive: enc([Service], [{ KeepAliveMessage: { last_incoming_sequence_num: 6n } }]),
  svcCloseWrongSequenceNumber: enc([Service], [{ CloseMessage: { reason: { WrongSequenceNumber: null } } }]),
  svcCloseInvalidServiceMessage: enc([Service], [{ CloseMessage: { reason: { InvalidServiceMessage: null } } }]),
  svcCloseKeepAliveTimeout: enc([Service], [{ CloseMessage: { reason: { KeepAliveTimeout: null } } }]),
  svcCloseClosedByApplication: enc([Service], [{ CloseMessage: { reason: { ClosedByApplication: null } } }]),
};
// The canister's CBOR as the client reads it.
const m = Cbor.decode(unhex(cborHex));
out.cborDecoded = {
  keys: Object.keys(m),
  client_principal: Principal.fromUint8Array(m.client_key.client_principal).toText(),
  client_nonce: String(m.client_key.client_nonce),
  sequence_num: String(m.sequence_num),
  timestamp: String(m.timestamp),
  is_service_message: m.is_service_message,
  content: hex(m.content),
};
// The same message written by agent-js's encoder (another key order, maybe other integer forms).
out.cborAgent = hex(Cbor.encode({
  content: app, is_service_message: false, timestamp: 1796423100000000000n, sequence_num: 1n,
  client_key: { client_nonce: BigInt(nonceText), client_principal: unhex(clientHex) },
}));
console.log(JSON.stringify(out));
