/**
 * Every read or write of crossws's and ws's private fields, here and in crossws-bun-peer.ts (the Bun peer's slimming). The runtime adapters use them
 * to go faster (Node: pre-built frames written to the socket; Bun: native pub/sub) and to hold less per
 * idle connection (the upgrade request crossws keeps for a socket's lifetime).
 *
 * The shapes are those of crossws 0.4.17 (pinned exactly in package.json; ws is bundled inside it):
 * node_modules/crossws/dist/_chunks/node.mjs, dist/adapters/bun.mjs, dist/adapters/deno.mjs. No peer
 * exists when an adapter is created, so each function checks the fields it needs on the peer it is given,
 * at open, and when they moved it changes nothing and returns `undefined` or `false`: the caller then uses
 * crossws's public peer API (`peer.send`, crossws's own objects) and reports the fallback once.
 * test/runtimes/crossws-internals.test.ts asserts that every function takes its fast path with the installed
 * crossws on Node, Bun and Deno.
 */
type Fields = Record<string, unknown>;

/**
 * A crossws peer, by the public getters read back here to check that a rewrite kept them (`object`
 * so that the engine's own peer type passes too).
 */
type Peer = object;
interface PeerGetters {
  readonly context?: unknown;
  readonly namespace?: unknown;
  readonly remoteAddress?: unknown;
}
export const getters = (peer: Peer) => peer as PeerGetters;

export const isObject = (value: unknown): value is Fields => typeof value === "object" && value !== null;

/** `peer._internal`: what crossws 0.4 passes to its Peer constructor. */
export function internalsOf(peer: Peer): Fields | undefined {
  const internal = (peer as unknown as { _internal?: unknown })._internal;
  return isObject(internal) ? internal : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Node (crossws's Node adapter on the `ws` it bundles)

/** The parts of a `ws` WebSocket the Node fan-out reads. */
export interface WsLike {
  readonly readyState: number;
}

/** The parts of the `net.Socket` under a `ws` WebSocket the Node fan-out writes to. */
export interface RawSocketLike {
  cork(): void;
  uncork(): void;
  write(chunk: Uint8Array): boolean;
  readonly writableLength: number;
}

export interface NodeWire {
  readonly ws: WsLike;
  readonly socket: RawSocketLike;
}

/**
 * The `ws` WebSocket (`peer._internal.ws`) and its TCP socket (`ws._socket`) behind a crossws Node peer,
 * when complete unmasked frames may be written straight to that socket, past ws's Sender: only when the
 * connection negotiated no extension (`ws.extensions`, public ws API, is `""`). With permessage-deflate
 * the Sender compresses and queues frames of its own, and a raw frame would be neither compressed nor
 * kept in order with them. A crossws upgrade hook may turn deflate on per connection, so this is checked
 * per connection, not inferred from the server options. `"extension"` when one was negotiated;
 * `undefined` when crossws or ws keep these elsewhere.
 */
export function nodeWire(peer: Peer): NodeWire | "extension" | undefined {
  const ws = internalsOf(peer)?.ws;
  if (!isObject(ws) || typeof ws.readyState !== "number" || typeof ws.extensions !== "string") return undefined;
  if (ws.extensions !== "") return "extension";
  const socket = ws._socket;
  if (!isObject(socket) || typeof socket.cork !== "function" || typeof socket.uncork !== "function") return undefined;
  if (typeof socket.write !== "function" || typeof socket.writableLength !== "number") return undefined;
  return { ws: ws as unknown as WsLike, socket: socket as unknown as RawSocketLike };
}

/** ws's Receiver (`ws._receiver`), as far as a message's fragments go. */
export interface ReceiverLike {
  /** The fragments of the message being read; ws gives it a new `[]` after each whole message. */
  _fragments: unknown[];
}

/**
 * The Receiver of a `ws` WebSocket, whose `_fragments` array the Node adapter swaps for one of its own
 * after each message (see `handBackFragments` in corked-fanout.ts). `undefined` when ws keeps it elsewhere.
 */
export function nodeReceiver(ws: WsLike): ReceiverLike | undefined {
  const receiver = (ws as unknown as Fields)._receiver;
  if (!isObject(receiver) || !Array.isArray(receiver._fragments)) return undefined;
  return receiver as unknown as ReceiverLike;
}

/** Empty `fragments` and make it the array `receiver` gathers its next message's fragments in. */
export function reuseFragments(receiver: ReceiverLike, fragments: unknown[]): void {
  // `pop` keeps the storage for the next message; `length = 0` cost ~300 more instructions per room message (bench/instructions.mjs).
  while (fragments.length > 0) fragments.pop();
  receiver._fragments = fragments;
}

/** The parts of a `ws` WebSocket (public ws API) used to answer a client's ping. */
export interface WsPongLike {
  readonly readyState: number;
  /** Bytes queued on the socket and in ws's Sender (ws's public `bufferedAmount`). */
  readonly bufferedAmount: number;
  pong(data?: Uint8Array, mask?: boolean, cb?: (error?: Error) => void): void;
}

/**
 * The `ws` WebSocket behind a crossws Node peer, to answer pings by hand: the server runs ws with
 * `autoPong: false`, because ws's automatic pongs bypass every bound (a client that pings and never
 * reads made the server queue gigabytes). `undefined` when crossws keeps it elsewhere.
 */
export function nodePonger(peer: Peer): WsPongLike | undefined {
  const ws = internalsOf(peer)?.ws;
  if (!isObject(ws) || typeof ws.pong !== "function" || typeof ws.bufferedAmount !== "number") return undefined;
  return ws as unknown as WsPongLike;
}

/**
 * Lets go of the upgrade request a crossws Node peer keeps for its lifetime (the IncomingMessage, its
 * web Request wrapper and srvx's: ~4 KB of heap per idle connection). Identity is in the context by
 * then. Keeps what the peer still reads: `nodeReq._context` (`peer.context`) and `nodeReq.socket`
 * (`peer.remoteAddress`); checks afterwards that both still read the same, and undoes it if not.
 */
export function releaseNodeUpgradeRequest(peer: Peer): boolean {
  const internal = internalsOf(peer);
  const nodeReq = internal?.nodeReq;
  if (!internal || !isObject(nodeReq) || !("_context" in nodeReq) || !("socket" in nodeReq) || !("request" in internal)) return false;
  // `remoteAddress` reads `nodeReq.socket`, which is kept as is; reading it here would make Node cache
  // the socket's peer name (an object per connection), so only the context is compared.
  const { context } = getters(peer);
  const request = internal.request;
  internal.nodeReq = { _context: nodeReq._context, socket: nodeReq.socket };
  internal.request = undefined;
  if (getters(peer).context === context) return true;
  internal.nodeReq = nodeReq;
  internal.request = request;
  return false;
}

// ---------------------------------------------------------------------------------------------------
// Bun (crossws's Bun adapter on Bun.serve's ServerWebSocket)

/** Bun's `Server`, as far as publishing goes. */
export interface BunPublisher {
  publish(topic: string, data: string): number;
}

/** The parts of Bun's `ServerWebSocket` the Bun fan-out uses (https://bun.sh/docs/api/websockets). */
export interface BunSocketLike {
  readonly readyState: number;
  send(data: string): number;
  publish(topic: string, data: string): number;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  getBufferedAmount(): number;
}

/**
 * The `ServerWebSocket` behind a crossws Bun peer (`peer._internal.ws`) and the Bun server that upgraded
 * it (crossws keeps it at `ws.data.server`), for native pub/sub.
 */
export function bunSocket(peer: Peer): { ws: BunSocketLike; server: BunPublisher } | undefined {
  const ws = internalsOf(peer)?.ws;
  if (!isObject(ws) || typeof ws.readyState !== "number" || !isObject(ws.data)) return undefined;
  for (const method of ["send", "publish", "subscribe", "unsubscribe", "getBufferedAmount"]) {
    if (typeof ws[method] !== "function") return undefined;
  }
  const server = ws.data.server;
  if (!isObject(server) || typeof server.publish !== "function") return undefined;
  return { ws: ws as unknown as BunSocketLike, server: server as unknown as BunPublisher };
}

// `slimBunPeer` is in crossws-bun-peer.ts.

// ---------------------------------------------------------------------------------------------------
// Deno (crossws's Deno adapter on Deno.upgradeWebSocket)

/**
 * Lets go of the snapshot of the upgrade request (a Proxy over it and a copy of its headers) that a
 * crossws Deno peer keeps for its lifetime (`peer._internal.request`); onAuth has run and nothing reads
 * it again. Deno's peer keeps its context apart (`_internal.context`).
 */
export function releaseDenoUpgradeRequest(peer: Peer): boolean {
  const internal = internalsOf(peer);
  if (!internal || !("request" in internal) || !("context" in internal)) return false;
  internal.request = undefined;
  return true;
}
