import type { BackplaneSink, DocumentSink } from "./backplane.ts";
import type { RedisKeys } from "./redis-codec.ts";
import type { RedisClientLike } from "./redis-driver.ts";
import { claimEmptied } from "./redis-rooms.ts";

/** What liveness needs from its backplane. */
export interface LivenessHost {
  readonly instanceId: string;
  readonly keys: RedisKeys;
  readonly ttlMs: number;
  /** The command connection while it is ready and the backplane open. */
  ready(): RedisClientLike | undefined;
  sink(): BackplaneSink | undefined;
  /** A command failed: report once per outage. */
  failed(error: unknown): void;
  /** Commands work again. */
  up(): void;
  /** Tell every instance to re-read its rooms (the instance channel). */
  publishSync(): Promise<unknown>;
  /** Announced (first time or again): joins waiting for start-up may go ahead. */
  announced(): void;
  /** Shared documents: the instances whose clients' awareness they show are checked too, and told when dead. */
  documents?: Pick<DocumentSink, "remoteInstances" | "instancesDown">;
}

/**
 * Heartbeats, the ghost sweep and re-announcing. Every step is one command on one key (or a room's
 * hash), never a script over keys of several slots, so it works on a single Redis and on a Redis
 * Cluster alike; steps are ordered so a crash or a race between them is repaired by the next beat
 * (the registry entry is written last and removed last).
 */
export class Liveness {
  private readonly host: LivenessHost;
  private announcedOnce = false;
  /** An announce failed part-way (a node still coming back): the next beat tries again. */
  private owed = false;
  private ticking: Promise<void> | undefined;
  /** After a reconnect, peers get one TTL to re-announce before any of them is judged dead. */
  private graceUntil = 0;

  constructor(host: LivenessHost) {
    this.host = host;
  }

  get isAnnounced(): boolean {
    return this.announcedOnce;
  }

  /**
   * Shared state may just have been lost (a node rejoined, a reconnect): judge nobody dead for one TTL,
   * so peers have time to write their heartbeats back. Set at once, before the re-announce that follows.
   */
  grace(): void {
    if (this.announcedOnce) this.graceUntil = Math.max(this.graceUntil, Date.now() + this.host.ttlMs);
  }

  /** Resolves once no beat is in flight (close waits so a beat cannot re-register a closed instance). */
  idle(): Promise<void> {
    return this.ticking ?? Promise.resolve();
  }

  /**
   * Write this instance back into shared state: heartbeat, every local member, then the registry; then
   * ask peers to re-read. Members recorded for this instance that are no longer local are removed.
   */
  async announce(): Promise<void> {
    const { host } = this;
    const cmd = host.ready();
    const sink = host.sink();
    if (!cmd || !sink) return;
    const { keys, instanceId } = host;
    this.owed = true;
    try {
      await cmd.set(keys.hb(instanceId), String(Date.now()), "PX", host.ttlMs);
      const recorded = await cmd.hgetall(keys.inst(instanceId));
      const local = new Map<string, { roomId: string; entry: string }>();
      for (const m of sink.localMembers()) local.set(m.connectionId, m);
      const writes: Promise<unknown>[] = [];
      const gone: string[] = [];
      for (const id in recorded) {
        const now = local.get(id);
        if (now?.roomId === recorded[id]) continue;
        writes.push(cmd.hdel(keys.room(recorded[id]!), id));
        if (!now) gone.push(id);
      }
      // Out of the member hash only after out of the room: a crash in between leaves it sweepable.
      if (gone.length > 0) writes.push(Promise.all(writes).then(() => cmd.hdel(keys.inst(instanceId), ...gone)));
      for (const [connectionId, m] of local) {
        writes.push(cmd.hset(keys.room(m.roomId), connectionId, `${instanceId} ${m.entry}`));
        writes.push(cmd.hset(keys.inst(instanceId), connectionId, m.roomId));
      }
      await Promise.all(writes);
      await cmd.sadd(keys.registry, instanceId);
      await this.beats(cmd, await cmd.smembers(keys.registry));
      // Peers re-read their rooms when this instance had been announced before (its members may have
      // changed unseen) or brings members; a fresh empty instance has nothing to tell.
      if (this.announcedOnce || local.size > 0) await host.publishSync();
    } catch (error) {
      return host.failed(error);
    }
    if (this.announcedOnce) this.graceUntil = Date.now() + host.ttlMs;
    this.announcedOnce = true;
    this.owed = false;
    host.up();
    sink.resync();
    host.announced();
  }

  /** Renew the heartbeat; find instances that stopped beating; clean their state; tell the engine. */
  async tick(): Promise<void> {
    const cmd = this.host.ready();
    const sink = this.host.sink();
    if (!cmd || !sink || this.ticking) return;
    this.ticking = (this.owed ? this.announce() : this.check(cmd, sink)).finally(() => (this.ticking = undefined));
    await this.ticking;
  }

  private async check(cmd: RedisClientLike, sink: BackplaneSink): Promise<void> {
    const { keys, instanceId, ttlMs } = this.host;
    const checkedAt = Date.now();
    let known: string[];
    try {
      const [, registered, members] = await Promise.all([
        cmd.set(keys.hb(instanceId), String(checkedAt), "PX", ttlMs),
        cmd.sismember(keys.registry, instanceId),
        cmd.smembers(keys.registry),
      ]);
      if (registered === 0) {
        // Swept (silent past the TTL) or Redis lost its data: write it all back. Only announce() adds
        // this instance to the registry, after its members.
        return this.announce();
      }
      known = members;
      this.host.up();
    } catch (error) {
      return this.host.failed(error);
    }
    const candidates = new Set(known);
    for (const id of sink.remoteInstances()) candidates.add(id);
    for (const id of this.host.documents?.remoteInstances() ?? []) candidates.add(id);
    const ids = [...candidates];
    const beats = await this.beats(cmd, ids);
    if (beats.size === 0 || checkedAt < this.graceUntil) return;
    const dead = new Set(ids.filter((id) => beats.get(id) === null));
    if (dead.size === 0) return;
    try {
      await Promise.all([...dead].filter((id) => known.includes(id)).map((id) => this.sweep(cmd, id)));
    } catch (error) {
      return this.host.failed(error);
    }
    sink.instancesDown(dead, checkedAt);
    this.host.documents?.instancesDown(dead, checkedAt);
  }

  /**
   * The heartbeat values of `ids` other than this instance (`null`: none, the instance is dead), read
   * together (a failed read leaves its id out).
   */
  private async beats(cmd: RedisClientLike, ids: string[]): Promise<Map<string, string | null>> {
    const others = ids.filter((id) => id !== this.host.instanceId);
    const read = await Promise.allSettled(others.map((id) => cmd.get(this.host.keys.hb(id))));
    const beats = new Map<string, string | null>();
    read.forEach((result, i) => {
      if (result.status === "fulfilled") beats.set(others[i]!, result.value);
    });
    return beats;
  }

  /**
   * Remove a dead instance's members from every room hash (one HDEL per room), then its member hash,
   * then its registry entry. Several sweepers at once are harmless (each step is idempotent); an
   * instance that comes back meanwhile finds itself out of the registry and re-announces.
   */
  private async sweep(cmd: RedisClientLike, id: string): Promise<void> {
    const { keys } = this.host;
    if ((await cmd.exists(keys.hb(id))) === 1) return; // it beats again: leave it alone
    const members = await cmd.hgetall(keys.inst(id));
    await Promise.all(this.removeMembers(cmd, id, new Map(Object.entries(members))));
    await cmd.srem(keys.registry, id);
  }

  /** HDEL the members (connection id → room id) from their room hashes, then from the instance's hash. */
  private removeMembers(cmd: RedisClientLike, id: string, members: Map<string, string>): Promise<unknown>[] {
    if (members.size === 0) return [];
    const byRoom = new Map<string, string[]>();
    for (const [connectionId, roomId] of members) {
      const ids = byRoom.get(roomId);
      if (ids) ids.push(connectionId);
      else byRoom.set(roomId, [connectionId]);
    }
    const { keys } = this.host;
    const rooms = Array.from(byRoom, ([roomId, ids]) => cmd.hdel(keys.room(roomId), ...ids).then(() => this.claim(cmd, roomId)));
    return [Promise.all(rooms).then(() => cmd.hdel(keys.inst(id), ...members.keys()))];
  }

  /** A swept member may have been its room's last: exactly one sweeper tells its engine the room emptied. */
  private async claim(cmd: RedisClientLike, roomId: string): Promise<void> {
    const sink = this.host.sink();
    if (!sink?.roomsEmptied) return;
    if (await claimEmptied(cmd, this.host.keys, roomId)) sink.roomsEmptied([roomId]);
  }

  /** Clean shutdown: remove every member still recorded and the registry entry, so peers need not wait for the TTL. */
  async leave(cmd: RedisClientLike): Promise<void> {
    const { keys, instanceId } = this.host;
    const members = await cmd.hgetall(keys.inst(instanceId));
    await Promise.all(this.removeMembers(cmd, instanceId, new Map(Object.entries(members))));
    await Promise.all([cmd.srem(keys.registry, instanceId), cmd.del(keys.hb(instanceId)), cmd.del(keys.inst(instanceId))]);
  }
}
