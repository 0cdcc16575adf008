/**
 * The Bun peer's slimming: part of crossws-internals.ts (every read or write of crossws's private fields),
 * in a file of its own for its size. The shapes are those of crossws 0.4.17's dist/adapters/bun.mjs and
 * dist/_chunks/peer.mjs; test/runtimes/crossws-internals.test.ts asserts the fast path is taken on Bun.
 */
import { getters, internalsOf, isObject } from "./crossws-internals.ts";

/** What crossws 0.4.17 puts in `ws.data` (bun.mjs `handleUpgrade`, then `getPeer` adds `peer`). */
const BUN_DATA_KEYS = "server,request,context,namespace,peer";
/** What crossws 0.4.17 passes to `new BunPeer(...)`. */
const BUN_INTERNAL_KEYS = "ws,request,peers,namespace,sync,hooks";
/** The Peer fields crossws 0.4.17 sets in its constructor (its `#private` ones are not listed). */
const BUN_PEER_KEYS = "_internal,_topics,_id";

/** A slimmed Bun peer: its own `ws.data` and `_internal` (see {@link slimBunPeer}). */
interface SlimPeer {
  _internal: unknown;
  _topics: Set<string> | undefined;
  ws: unknown;
  _context: unknown;
}

/** Prototypes of slimmed peers: `held` keeps the context in `_context`; `deferred` keeps only its user there. */
interface SlimPrototypes {
  held: object;
  deferred: object;
}

/** `_context` of a deferred peer whose context was `{}`. */
const NO_USER = Symbol("no user");

/**
 * The prototypes of slimmed peers, made once per crossws adapter (`hooks`) and namespace: they answer from
 * the adapter's constants what crossws reads from `_internal` and `ws.data`, and create a peer's topic
 * set on first use. Below them stays crossws's own `BunPeer.prototype`, whose methods do the work. A
 * `deferred` peer makes its context (`{ user }` or `{}`, all the engine's upgrade puts there) when it is
 * first read, keeps it, and becomes a `held` one.
 */
const slimPrototypes = new WeakMap<object, Map<unknown, SlimPrototypes>>();

function slimPrototypesOf(base: object, hooks: object, namespace: unknown): SlimPrototypes {
  let byNamespace = slimPrototypes.get(hooks);
  if (!byNamespace) slimPrototypes.set(hooks, (byNamespace = new Map()));
  const made = byNamespace.get(namespace);
  if (made) return made;
  const call = (name: string, self: unknown, topic: unknown) =>
    (Reflect.get(base, name) as (this: unknown, topic: unknown) => unknown).call(self, topic);
  const held: object = Object.create(base, {
    // crossws's socket handlers read `ws.data.peer` and `ws.data.namespace`; the peer reads
    // `_internal.hooks`, `_internal.namespace`, `_internal.request`, `_internal.peers` and
    // `_internal.ws.data.context`: the peer is all of those objects now.
    peer: {
      get: function (this: SlimPeer) {
        return this;
      },
    },
    hooks: { value: hooks },
    namespace: { get: () => namespace },
    request: { get: () => undefined },
    peers: { get: () => new Set() },
    context: {
      get: function (this: SlimPeer) {
        return this._context;
      },
    },
    topics: {
      get: function (this: SlimPeer) {
        return (this._topics ??= new Set());
      },
    },
    subscribe: {
      value: function (this: SlimPeer, topic: string) {
        this._topics ??= new Set();
        return call("subscribe", this, topic);
      },
    },
    unsubscribe: {
      value: function (this: SlimPeer, topic: string) {
        this._topics ??= new Set();
        return call("unsubscribe", this, topic);
      },
    },
  });
  const deferred: object = Object.create(held, {
    context: {
      get: function (this: SlimPeer) {
        const context = this._context === NO_USER ? {} : { user: this._context };
        this._context = context;
        Object.setPrototypeOf(this, held);
        return context;
      },
    },
  });
  const prototypes = { held, deferred };
  byNamespace.set(namespace, prototypes);
  return prototypes;
}

/** The user of a context that holds nothing else (`{ user }` or `{}`, a plain object); `undefined` otherwise. */
function onlyUserOf(context: unknown): unknown {
  if (!isObject(context) || Object.getPrototypeOf(context) !== Object.prototype) return undefined;
  const keys = Reflect.ownKeys(context);
  if (keys.length === 0) return NO_USER;
  const user = Object.getOwnPropertyDescriptor(context, "user");
  return keys.length === 1 && user?.writable && user.enumerable && user.configurable ? user.value : undefined;
}

/**
 * Trims what crossws keeps per Bun socket once the open hook has read the identity: the upgrade Request
 * (held twice), the Bun server reference, an entry in the namespace's peer set, the objects crossws
 * keeps as `ws.data` and `_internal`, and the peer's empty topic set. Idle connections are most of a
 * server's memory, and this brings one close to what a bare `Bun.serve` socket costs.
 *
 * The peer itself becomes `ws.data` and its own `_internal`: it keeps the socket (`ws`) and the context
 * (`_context`; only its user when it held nothing else), and a prototype made once per adapter (above)
 * answers the rest. crossws's public peer API works as before: `peer.context` (made on first read when
 * only the user was kept, then the same object on every read), `peer.subscribe`, `peer.topics` (its set
 * is made on first use), `peer.publish`, `peer.send`. The namespace's peer set is crossws's list for
 * `adapter.close()` and `peer.peers`; the engine keeps its own and closes every connection on `close()`.
 *
 * Only when `ws.data`, `_internal` and the peer hold exactly the fields listed above, no cross-instance
 * sync is configured, the topic set is empty, and the context (or its user) and `peer.namespace` read the
 * same afterwards (else it is undone).
 */
export function slimBunPeer(peer: object): boolean {
  const internal = internalsOf(peer);
  const ws = internal?.ws;
  if (!internal || !isObject(ws) || !isObject(ws.data) || !isObject(internal.hooks)) return false;
  const data = ws.data;
  if (Object.keys(data).join() !== BUN_DATA_KEYS || Object.keys(internal).join() !== BUN_INTERNAL_KEYS) return false;
  if (Object.keys(peer).join() !== BUN_PEER_KEYS) return false;
  const peers = internal.peers;
  const slim = peer as unknown as SlimPeer;
  const topics = slim._topics;
  if (data.peer !== peer || internal.sync !== undefined || !(peers instanceof Set) || !(topics instanceof Set) || topics.size > 0)
    return false;
  const base = Object.getPrototypeOf(peer) as object;
  const { context, namespace } = getters(peer);
  const { held, deferred } = slimPrototypesOf(base, internal.hooks, data.namespace);
  const user = onlyUserOf(context);
  slim._topics = undefined;
  slim._internal = peer;
  slim.ws = ws;
  slim._context = user === undefined ? context : user;
  Object.setPrototypeOf(peer, user === undefined ? held : deferred);
  ws.data = peer;
  peers.delete(peer);
  // A deferred context is not read here: that would make it.
  const same = user === undefined ? getters(peer).context === context : slim._context === user;
  if (same && getters(peer).namespace === namespace) return true;
  ws.data = data;
  Object.setPrototypeOf(peer, base);
  slim._internal = internal;
  slim._topics = topics;
  peers.add(peer);
  return false;
}
