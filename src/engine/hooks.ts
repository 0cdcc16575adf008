import type { Hooks, Peer } from "crossws";
import type { ResolvedOptions } from "../options.ts";
import { CloseCodes } from "../protocol/codes.ts";
import type { UserInfo } from "../protocol/messages.ts";
import { exceedsBytes } from "../util/json.ts";
import type { ClientFaults } from "./client-faults.ts";
import type { Connection } from "./connection.ts";
import type { Dispatch } from "./dispatch.ts";
import type { Guard } from "./guard.ts";
import type { Metrics } from "./metrics.ts";
import type { Refusals } from "./refusals.ts";
import type { Registry } from "./registry.ts";
import type { Drop } from "./room-side.ts";
import type { RuntimeCapabilities } from "./runtime.ts";
import { createUpgrade } from "./upgrade.ts";

/** Each peer carries its connection, so finding it costs no map entry per socket. */
const CONN = Symbol("openlivesync.connection");
export const connectionOf = (peer: unknown) => (peer as Record<symbol, Connection | undefined>)[CONN];

/** Give `peer` its connection (the `open` hook does it; a restored connection gets it here). */
export function bindConnection(peer: unknown, conn: Connection): void {
  (peer as Record<symbol, Connection>)[CONN] = conn;
}

export interface HookTargets {
  /** Answers the upgrade: a refusal Response, or the context that `open` reads the user from. */
  upgrade(request: Request): Promise<Response | { context: { user: UserInfo } } | undefined>;
  open(peer: Peer, user: UserInfo | undefined): Connection | undefined;
  receive(conn: Connection, raw: string): void;
  /** The client pinged (its pong is the runtime's or `ping`'s business). */
  ping(conn: Connection, data: Uint8Array | undefined): void;
  drop(conn: Connection, code: number, reason: string): void;
  closed(conn: Connection): void;
  /** A socket-level error: the client's fault (bad frame, reset), counted rather than logged each time. */
  socketError(error: unknown): void;
  /** Largest frame; 0 when the runtime enforces it itself. */
  maxPayload: number;
}

/** The engine as crossws hooks, and the typed way in for a message a runtime read itself. */
export interface BoundHooks {
  readonly hooks: Partial<Hooks>;
  /** A text message from `peer`, as crossws's `message` hook would pass it on. */
  receiveText(peer: Peer, text: string): void;
}

/** The engine as crossws hooks: each hook finds the peer's connection and hands on. */
export function bindHooks(t: HookTargets): BoundHooks {
  const receiveText = (peer: Peer, raw: string) => {
    const conn = connectionOf(peer);
    if (!conn || conn.closed) return;
    conn.alive = true;
    if (t.maxPayload > 0 && exceedsBytes(raw, t.maxPayload)) {
      return t.drop(conn, CloseCodes.MESSAGE_TOO_BIG, `Frame larger than ${t.maxPayload} bytes`);
    }
    t.receive(conn, raw);
  };
  const hooks: Partial<Hooks> = {
    upgrade: (request) => t.upgrade(request),
    open(peer) {
      const conn = t.open(peer, peer.context?.user as UserInfo | undefined);
      if (conn) bindConnection(peer, conn);
    },
    message: (peer, message) => receiveText(peer, message.text()),
    ping(peer, data) {
      const conn = connectionOf(peer);
      if (!conn || conn.closed) return;
      conn.alive = true;
      t.ping(conn, data as Uint8Array | undefined);
    },
    pong(peer) {
      const conn = connectionOf(peer);
      if (conn) conn.alive = true;
    },
    close(peer) {
      const conn = connectionOf(peer);
      if (conn) t.closed(conn);
    },
    error(_peer, error) {
      t.socketError(error);
    },
  };
  return { hooks, receiveText };
}

/** The crossws hooks in front of the registry and dispatch. */
export function createSocketHooks(p: {
  options: ResolvedOptions;
  runtime: RuntimeCapabilities;
  guard: Guard;
  metrics: Metrics;
  registry: Registry;
  dispatch: Dispatch;
  drop: Drop;
  faults: ClientFaults;
  refusals: Refusals;
  closing: () => boolean;
}): BoundHooks {
  const { options, runtime, guard, metrics, registry, drop, faults, refusals } = p;
  return bindHooks({
    upgrade: createUpgrade({ options, guard, runtime, report: options.onError, refusals, closing: p.closing }),
    open(peer, user) {
      const conn = registry.opened(peer, user);
      metrics.opens++;
      if (p.closing()) drop(conn, CloseCodes.GOING_AWAY, "Server is shutting down");
      else if (!guard.admit(conn, () => peer.remoteAddress)) {
        refusals.record("rate");
        drop(conn, CloseCodes.POLICY_VIOLATION, "Too many connections from this address");
      }
      return conn;
    },
    receive: p.dispatch.receive,
    ping(conn, data) {
      if (runtime.answerPing?.(conn.peer, data, options.maxBufferedBytes) === false)
        drop(conn, CloseCodes.SLOW_CONSUMER, "Slow consumer: outgoing buffer full");
    },
    drop,
    closed: registry.closed,
    socketError: (error) => faults.record(error),
    maxPayload: runtime.nativeMaxPayload ? 0 : options.maxPayload,
  });
}
