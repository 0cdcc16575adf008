import { connectRedis, disconnect, type RedisClientLike } from "./redis-driver.ts";
import type { settingsOf } from "./redis-options.ts";

/** What the two connections tell their backplane. */
export interface RedisConnectionHost {
  /** Whether this instance announced itself (before that, a lost connection or a node change is not news). */
  announced(): boolean;
  /** The command connection is (again) ready, or a cluster node rejoined: shared state may be gone. */
  rejoined(): void;
  /** Messages may have been missed: re-read every room. */
  resync(): void;
  report(message: string, cause?: unknown): void;
}

/**
 * The backplane's two Redis connections (commands; SUBSCRIBE) and the outage they share: opening
 * them, the connection events that mean "re-read" or "write our members back", the first failure of
 * each outage reported once, and closing. Channel commands pick SPUBLISH/SSUBSCRIBE on a Redis Cluster.
 */
export class RedisConnection {
  cmd: RedisClientLike | undefined;
  sub: RedisClientLike | undefined;
  /** Set once by `shut`: no more announces, publishes or re-reads. */
  closed = false;
  /** Redis is away: failures are reported once per outage. */
  down = false;
  private readonly settings: ReturnType<typeof settingsOf>;
  private readonly client: RedisClientLike | undefined;
  private readonly host: RedisConnectionHost;
  /** The delayed re-read after a cluster node change. */
  private settle: ReturnType<typeof setTimeout> | undefined;

  constructor(settings: ReturnType<typeof settingsOf>, client: RedisClientLike | undefined, host: RedisConnectionHost) {
    this.settings = settings;
    this.client = client;
    this.host = host;
  }

  /** Both connections made; false when `shut` ran while the driver loaded. Synchronous for a given client. */
  open(): true | Promise<boolean> {
    if (this.client) {
      this.cmd = this.client;
      this.sub = this.client.duplicate({ enableOfflineQueue: true });
      return true;
    }
    const { urls, clustered, heartbeatMs, natMap } = this.settings;
    return connectRedis(urls, clustered, heartbeatMs, natMap).then((link) => {
      if (this.closed) {
        // close() ran while the driver loaded: connecting now would keep the process alive
        link.cmd.disconnect();
        link.sub.disconnect();
        return false;
      }
      ({ cmd: this.cmd, sub: this.sub } = link);
      return true;
    });
  }

  isReady(): boolean {
    return this.cmd?.status === "ready" && !this.closed;
  }

  /** Command failures while Redis is away say the same thing many times: report the first of each outage. */
  readonly failed = (error: unknown): void => {
    if (this.closed || this.down) return;
    this.down = true;
    this.host.report("Redis is unreachable or failed a command; serving local clients only and retrying", error);
  };

  publishTo(channel: string, text: string): Promise<unknown> {
    return this.settings.clustered ? this.cmd!.spublish!(channel, text) : this.cmd!.publish(channel, text);
  }

  subscribeTo(channel: string): Promise<unknown> {
    return this.settings.clustered ? this.sub!.ssubscribe!(channel) : this.sub!.subscribe(channel);
  }

  unsubscribeFrom(channel: string): Promise<unknown> {
    return this.settings.clustered ? this.sub!.sunsubscribe!(channel) : this.sub!.unsubscribe!(channel);
  }

  /** Stop: no more re-reads; the connections stay open for the goodbye commands until `disconnect`. */
  shut(): void {
    this.closed = true;
    clearTimeout(this.settle);
  }

  disconnect(): Promise<void> {
    return disconnect([this.sub, this.client ? undefined : this.cmd]);
  }

  /** Listen on both connections: errors, reconnects, node changes, and messages (to `onMessageBytes`). */
  listen(onMessageBytes: (channel: Uint8Array, bytes: Uint8Array) => void, controlChannel: string): void {
    const cmd = this.cmd!;
    const sub = this.sub!;
    const { host } = this;
    cmd.on("error", this.failed);
    sub.on("error", this.failed);
    cmd.on("close", () => {
      if (!this.closed && host.announced() && !this.down) {
        this.down = true;
        host.report("Lost the Redis connection; serving local clients only and reconnecting");
      }
    });
    cmd.on("ready", () => host.rejoined());
    if (this.settings.clustered) this.listenToNodes(cmd, sub);
    sub.on(this.settings.clustered ? "smessageBuffer" : "messageBuffer", onMessageBytes);
    let subscribedOnce = false;
    sub.on("ready", () => {
      if (!subscribedOnce) return;
      // ioredis resubscribes every channel first; messages sent while we were away are lost: re-read the rooms.
      this.subscribeTo(controlChannel).then(() => host.resync(), this.failed);
    });
    this.subscribeTo(controlChannel).then(() => (subscribedOnce = true), this.failed);
  }

  /** A cluster node that came back (restarted, maybe empty) rejoins the pool: write our members back. */
  private listenToNodes(cmd: RedisClientLike, sub: RedisClientLike): void {
    const { host } = this;
    // ioredis resubscribes a node's sharded channels on its own schedule: re-read once more a heartbeat later.
    const resyncLater = () => {
      clearTimeout(this.settle);
      this.settle = setTimeout(() => !this.closed && host.resync(), this.settings.heartbeatMs);
    };
    cmd.on("+node", () => {
      if (!host.announced()) return;
      host.rejoined();
      resyncLater();
    });
    // ioredis put the sharded subscriptions back (a node reconnected, after its backoff): what was
    // published to those rooms meanwhile was missed. Re-read now and once more a heartbeat later:
    // ioredis issues the SSUBSCRIBEs without waiting for them.
    sub.on("subscribersReady", () => {
      if (!host.announced() || this.closed) return;
      host.resync();
      resyncLater();
    });
  }
}
