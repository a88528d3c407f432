// TypeScript declarations of the icws browser client (dist/icws.js, built from src/icws.js).
// test/package.test.mjs checks that every runtime export is declared here and the other way round;
// package_test.go type-checks test/types/example.ts against this file with tsc.

/** A Principal as @dfinity/principal makes it; the client accepts its textual form too. */
export interface PrincipalLike {
  toText(): string;
  toUint8Array(): Uint8Array;
}

/** The checks of a message from the gateway, in the order they run. */
export type Kind = 'malformed' | 'bad certificate' | 'tampered' | 'foreign' | 'replay' | 'gap' | 'stale' | 'future' | 'withheld';

/** The kinds of VerifyError by name. */
export declare const Kind: Readonly<{
  MALFORMED: 'malformed';
  BAD_CERTIFICATE: 'bad certificate';
  TAMPERED: 'tampered';
  FOREIGN: 'foreign';
  REPLAY: 'replay';
  GAP: 'gap';
  STALE: 'stale';
  FUTURE: 'future';
  WITHHELD: 'withheld';
}>;

/** A message from the gateway that failed a check; nothing of it was returned. */
export declare class VerifyError extends Error {
  constructor(kind: Kind, key: string, detail: string, opts?: { seq?: bigint | null; cause?: unknown });
  readonly kind: Kind;
  readonly key: string;
  readonly detail: string;
  /** The message's sequence number, for checks after it was authenticated; else null. */
  readonly seq: bigint | null;
  /** Whether the stream ended: every kind but foreign and replay. */
  readonly fatal: boolean;
}

/** The end of the connection by the gateway or the network. */
export declare class CloseError extends Error {
  constructor(code: number, reason: string);
  readonly code: number;
  readonly reason: string;
  /** Whether connecting again can help. */
  readonly reconnect: boolean;
  readonly fatal: true;
}

/** The canister's own end of the connection (a close service message). */
/** A subscription ended without the client asking (refused, or a gap); not fatal. */
export declare class ChannelError extends Error {
  readonly channel: string;
  /** The canister's reason for a refusal, '' for a gap. */
  readonly reason: string;
  /** For a gap: the next seq expected and the first that came. */
  readonly want: bigint;
  readonly got: bigint;
}
/** Default of channelGraceMs. */
export declare const DEFAULT_CHANNEL_GRACE_MS: number;
export declare class CanisterClosedError extends Error {
  constructor(reason: string);
  readonly reason: string;
  readonly fatal: true;
}

/** Thrown by every method after close(). */
export declare class ClosedError extends Error {
  constructor();
  readonly fatal: true;
}

/** Whether err ends the stream of recv. */
export declare function isFatal(err: unknown): boolean;
/** Whether IcWebSocket.reconnect can cure err (a lost connection, a gap, withheld messages). */
export declare function shouldReconnect(err: unknown): boolean;
/** Whether a client seeing this close code should connect again. */
export declare function closeCodeReconnects(code: number): boolean;
/** The reason of a close code in words. */
export declare function closeCodeReason(code: number): string;

/** Encodes the example canisters' payload {text} (CBOR). */
export declare function encodeAppMessage(text: string): Uint8Array;
/** Decodes the example canisters' payload {text}. */
export declare function decodeAppMessage(b: Uint8Array): { text: string };
/** Encodes an application payload as a tagged CBOR map, entries in the order given. */
export declare function encodeCborMap(entries: Array<[string, bigint | number | string | Uint8Array]>): Uint8Array;
/** Decodes a CBOR map of known fields. */
export declare function decodeCborMap(
  what: string,
  b: Uint8Array,
  fields: Record<string, 'uint' | 'bytes' | 'text'>,
  required: string[],
): Record<string, bigint | Uint8Array | string>;

/** A canister message that passed every check. */
export interface Message {
  /** Its sequence number (service messages left out). */
  seq: bigint;
  /** IC time at which the canister queued it, ns since the epoch. */
  timestamp: bigint;
  /** Local time at which it was verified, ms since the epoch. */
  received: number;
  /** How long it took from the canister's queue to the client. */
  delayMs: number;
  /** The application's bytes. */
  payload: Uint8Array;
  /** Its key in the canister's certified map. */
  key: string;
  /** For a message of a certified channel: its name (seq is then the channel's). */
  channel?: string;
}

/** An identity of @dfinity/agent (signs ws_register). */
export type Identity = object;
/** An HttpAgent of @dfinity/agent. */
export type Agent = object;

/** The options of IcWebSocket.connect. */
export interface Options {
  /** The gateway's WebSocket URL, ws:// or wss://. */
  gateway: string;
  /** The IC's URL, for ws_register (not needed with agent). */
  ic?: string;
  canisterId: string | PrincipalLike;
  /** The IC's DER root key (bytes or hex). */
  rootKey?: Uint8Array | string;
  /** Read the root key from the IC: local replicas only. */
  fetchRootKey?: boolean;
  agent?: Agent;
  identity?: Identity;
  /** The client's 32-byte Ed25519 secret key; default a new random one. */
  key?: Uint8Array;
  maxMessageAgeMs?: number;
  maxCertificateAgeMs?: number;
  maxClockSkewMs?: number;
  openTimeoutMs?: number;
  maxQueued?: number;
  maxUnsent?: number;
  /** recv fails with withheld after this long without a certified message, counted from the open (the canister confirms it with its first heartbeat) and then from the last one; negative never (for canisters without heartbeats). */
  heartbeatTimeoutMs?: number;
  /** The acknowledgement bound: recv fails with withheld when a certified heartbeat more than this after a message's write (for one queued behind an unacknowledged one, after that one's acknowledgement) does not acknowledge it; default 2/5 of heartbeatTimeoutMs (30 s), negative never. */
  ackTimeoutMs?: number;
  /** recv fails with withheld when a channel stays behind a head the canister reported for this long; default 10 s. */
  channelGraceMs?: number;
  /** Ask for S9 batched frames at every open (one frame per poll batch, the certificate and witness once, every message checked as in an S6); default true, false for S6 frames only. */
  batchFrames?: boolean;
  now?: () => number;
  WebSocket?: typeof WebSocket;
}

/** A verified connection to a canister through a gateway. */
export declare class IcWebSocket {
  private constructor();
  /** Registers a client with the canister and connects through the gateway. */
  static connect(opts: Options): Promise<IcWebSocket>;
  /** The client id the canister gave in ws_register. */
  readonly clientId: bigint;
  readonly canisterId: PrincipalLike;
  /** The client's Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** The URL of the gateway in use. */
  readonly gateway: string;
  /** The open nonce of the last first message sent. */
  readonly openNonce: bigint;
  /** How many sent messages wait to be written because of the gateway's limits. */
  readonly unsent: number;
  /** The next sequence number the canister confirmed receiving. */
  readonly acked: bigint;
  /** The next sequence number recv expects from the canister: every message below it was delivered. */
  readonly received: bigint;
  /** Sequence numbers of the application's messages the canister has not confirmed yet. */
  readonly unconfirmed: bigint[];
  /** Signs payload as the next message and queues it; returns its sequence number. */
  send(payload: Uint8Array): bigint;
  /** The next canister message that passed every check. */
  recv(): Promise<Message>;
  /** Moves the connection to a gateway (another one, or the same one again); subscriptions resume from the next seq expected. */
  reconnect(gateway: string): Promise<void>;
  /** Subscribes to a certified channel; returns the request's sequence number. */
  subscribe(channel: string): bigint;
  /** Ends the subscription to a channel; returns the request's sequence number. */
  unsubscribe(channel: string): bigint;
  /** The confirmed subscriptions, sorted. */
  readonly subscriptions: string[];
  /** How many channel frames were dropped (not subscribed, or while resuming after reconnect). */
  channelFramesDropped: number;
  /** Ends the connection with code 1000 and reason. */
  close(reason?: string): void;
  /** Called for non-fatal rejections by the async iterator. */
  onreject: ((err: VerifyError) => void) | undefined;
  [Symbol.asyncIterator](): AsyncGenerator<Message>;
}

/** Defaults of the connection options. */
export declare const DEFAULT_OPEN_TIMEOUT_MS: number;
export declare const DEFAULT_MAX_QUEUED: number;
export declare const DEFAULT_MAX_UNSENT: number;
export declare const DEFAULT_HEARTBEAT_TIMEOUT_MS: number;
export declare const DEFAULT_ACK_TIMEOUT_MS: number;

/** The gateway's limits (docs/PROTOCOL.md 7.1) that send keeps to. */
export declare const ACK_INTERVAL: number;
export declare const FALLBACK_INTERVAL_MS: number;
export declare const MAX_PENDING_BYTES: number;
export declare const MAX_PENDING_FRAMES: number;
export declare const MESSAGE_BURST: number;
export declare const MESSAGE_RATE: number;

/** Paces writes to the gateway's limits. */
export declare class Pacer {
  constructor(opts?: { now?: () => number });
  readonly acked: bigint;
  readonly acknowledging: boolean;
  ack(next: bigint): void;
  delay(seq: bigint, size: number): number;
  reset(): void;
  wrote(seq: bigint, size: number): void;
}

/** Runs the checks on frames for one client. */
export declare class Verifier {
  constructor(cfg: {
    canisterId: PrincipalLike;
    rootKey: Uint8Array;
    clientId: bigint;
    now?: () => number;
    maxMessageAgeMs?: number;
    maxCertificateAgeMs?: number;
    maxClockSkewMs?: number;
  });
  /** The sequence number of the next canister message due. */
  next: bigint;
  check(frame: Uint8Array): Promise<{ msg: unknown; received: number; key: string }>;
}

/** Turns the application's values into message bytes and back. */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}
/** The application's bytes as they are (the default codec). */
export declare const bytesCodec: Codec<Uint8Array>;
/** JSON as UTF-8 bytes. */
export declare const jsonCodec: Codec<any>;
/** A codec of one Candid type (an IDL type of @dfinity/candid). */
export declare function candidCodec<T = any>(type: object): Codec<T>;

/** The config of IcWebSocketEvents: the options of connect, networkUrl for ic, a codec. */
export type EventsConfig<T> = Omit<Options, 'gateway'> & { networkUrl?: string; codec?: Codec<T>; reconnect?: boolean | ReconnectPolicy };
/** Automatic reconnection of IcWebSocketEvents (off unless given). */
export interface ReconnectPolicy {
  /** Attempts in a row without a message between them; default 8. */
  attempts?: number;
  /** The first wait; default 500 ms, doubling. */
  minDelayMs?: number;
  /** The longest wait; default 30 s. */
  maxDelayMs?: number;
  /** Other gateways to try in turn after the first (the constructor's URL). */
  gateways?: string[];
}

/** The event of onmessage: data decoded by the codec, message as recv returns it. */
export interface IcMessageEvent<T> {
  type: 'message';
  data: T;
  message: Message;
  target: IcWebSocketEvents<T>;
}
/** The event of onerror; fatal errors are followed by onclose. */
export interface IcErrorEvent<T> {
  type: 'error';
  error: Error;
  fatal: boolean;
  /** Set when the error is cured by a reconnection, which follows after inMs. */
  reconnecting?: { gateway: string; attempt: number; inMs: number };
  target: IcWebSocketEvents<T>;
}
/** The event of onclose. */
export interface IcCloseEvent<T> {
  type: 'close';
  code: number;
  reason: string;
  wasClean: boolean;
  error: Error | null;
  target: IcWebSocketEvents<T>;
}

/** The ic-websocket-js shape: new IcWebSocket(url, undefined, config), then events. */
export declare class IcWebSocketEvents<T = Uint8Array> {
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  constructor(url: string, protocols: undefined, config: EventsConfig<T>);
  readonly url: string;
  readonly readyState: 0 | 1 | 2 | 3;
  readonly clientId: bigint | null;
  /** The promise API's connection under this one, once open. */
  readonly connection: IcWebSocket | null;
  onopen: ((ev: { type: 'open'; target: IcWebSocketEvents<T> }) => void) | null;
  onmessage: ((ev: IcMessageEvent<T>) => void) | null;
  onerror: ((ev: IcErrorEvent<T>) => void) | null;
  onclose: ((ev: IcCloseEvent<T>) => void) | null;
  /** Encodes value with the codec and sends it; returns its sequence number. */
  send(value: T): bigint;
  close(reason?: string): void;
}
export default IcWebSocketEvents;

/** The steps of connect that a ConnectError names. */
export type Stage = 'canister id' | 'root key' | 'register' | 'open';
/** A failure of connect, naming the step that failed. */
export declare class ConnectError extends Error {
  constructor(stage: Stage, message: string, opts?: { cause?: unknown; url?: string });
  readonly stage: Stage;
  readonly url: string;
  readonly fatal: true;
}
/** The close code of a gateway that refused the page's origin. */
export declare const CLOSE_ORIGIN_NOT_ALLOWED: 4009;
/** What an error means for a person: what was wrong, what to do, and the detail. */
export declare function explain(err: unknown): { title: string; todo: string; detail: string };

/** The IC mainnet's API hosts, whose root key is built in (agent.MainnetHosts in Go). */
export declare const MAINNET_HOSTS: readonly string[];
/** Whether host (no port, any case) is a mainnet API host or a subdomain of one (agent.IsMainnetHost). */
export declare function isMainnetHost(host: string): boolean;
