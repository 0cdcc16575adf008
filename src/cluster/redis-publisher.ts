import type { MemberChange } from "./backplane.ts";
import type { RedisKeys } from "./redis-codec.ts";
import { commandBatch, type RedisClientLike, type RedisPipelineLike } from "./redis-driver.ts";
import { nextTurn } from "../util/async.ts";

export interface PublisherOptions {
  keys: RedisKeys;
  instanceId: string;
  /** Redis Cluster: one pipeline per room (its hash and channel share a slot), SPUBLISH. */
  clustered: boolean;
  /** The command connection while it is ready. */
  command(): RedisClientLike | undefined;
  failed(error: unknown): void;
}

/** One room's share of a batch: its state writes and its records, in order. */
interface RoomBatch {
  tx: RedisPipelineLike;
  records: string[];
  /** Settles once the batch's commands were answered (or dropped); `store` hands it to the join. */
  written?: { promise: Promise<void>; resolve: () => void };
}

function written(batch: RoomBatch): Promise<void> {
  if (!batch.written) {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    batch.written = { promise, resolve };
  }
  return batch.written.promise;
}

const settle = (batch: RoomBatch) => batch.written?.resolve();

/** A room hash's writes for `changes`: one HSET (field, value, …) and one HDEL. */
function hashWrites(instanceId: string, changes: readonly MemberChange[]): { fields: string[]; gone: string[] } {
  const fields: string[] = [];
  const gone: string[] = [];
  for (const { kind, connectionId, entry } of changes) {
    if (kind === "left") gone.push(connectionId);
    else fields.push(connectionId, `${instanceId} ${entry}`);
  }
  return { fields, gone };
}

const joinRecords = (records: string[]) => (records.length === 1 ? records[0]! : records.join("\n"));

/**
 * Room messages go out as one PUBLISH per room per batch, in order, after the shared-state writes
 * that precede them (hset/hdel) in the same pipeline: a burst of messages costs Redis (and every
 * subscriber's echo) one command per room, not one each.
 *
 * A turn's first batch leaves in a microtask, before this instance writes to its own clients (the
 * Node fan-out flushes at the end of the turn), so the other instances start their share of a
 * fan-out while this one does its own; whatever later callbacks in the same turn add leaves at the
 * end of the turn. At most two PUBLISH per room per turn, and none waits for a later turn (ioredis's auto-pipelining would hold each command
 * until after the next poll for I/O).
 *
 * On a single Redis every room shares one pipeline (one write). On a Redis Cluster each room's
 * commands go out as single commands on its node's connection (`commandBatch`: ioredis's Cluster
 * pipeline can mix up replies while nodes come and go), as does the instance's member hash.
 */
export function createPublisher(options: PublisherOptions): Publisher {
  return new Publisher(options);
}

export class Publisher {
  private readonly keys: RedisKeys;
  private readonly instanceId: string;
  private readonly clustered: boolean;
  private readonly command: () => RedisClientLike | undefined;
  private readonly failed: (error: unknown) => void;
  /** This batch's channels (rooms and documents), in the order they were first written to. */
  private batches = new Map<string, RoomBatch>();
  /** Single Redis: the one pipeline every room of this batch shares. */
  private shared: RedisPipelineLike | undefined;
  private turnOpen = false;

  constructor({ keys, instanceId, clustered, command, failed }: PublisherOptions) {
    this.keys = keys;
    this.instanceId = instanceId;
    this.clustered = clustered;
    this.command = command;
    this.failed = failed;
  }

  /** Queue one room record (`header` is its encoded header). */
  publish(roomId: string, header: string, frame: string): void {
    this.publishOn(this.keys.channel(roomId), header, frame);
  }

  /** Queue one record on `channel` (a room's or a shared document's), batched with that channel's others. */
  publishOn(channel: string, header: string, frame: string): void {
    const cmd = this.command();
    if (!cmd) return;
    this.batchOf(cmd, channel).records.push(`${header}\n${frame}`);
    this.schedule();
  }

  /** Queue shared-state writes for members of `roomId`, ahead of every PUBLISH queued after them. */
  store(roomId: string, changes: readonly MemberChange[]): Promise<void> | undefined {
    const cmd = this.command();
    if (!cmd || changes.length === 0) return;
    const { keys } = this;
    const batch = this.batchOf(cmd, keys.channel(roomId));
    const { tx } = batch;
    const { fields, gone } = hashWrites(this.instanceId, changes);
    for (const { kind, connectionId } of changes) {
      if (kind === "updated") continue;
      if (kind === "joined") tx.set(keys.occupied(roomId), "1");
      this.writeInst(cmd, tx, kind === "joined" ? "hset" : "hdel", connectionId, roomId);
    }
    if (fields.length > 0) tx.hset(keys.room(roomId), ...fields);
    if (gone.length > 0) tx.hdel(keys.room(roomId), ...gone);
    this.schedule();
    // Only a join waits for its write (see membership.ts); updates and leaves need no promise.
    return changes.some((c) => c.kind === "joined") ? written(batch) : undefined;
  }

  /** A channel's batch: a room's (its hash writes and records share the room's slot) or a document's. */
  private batchOf(cmd: RedisClientLike, channel: string): RoomBatch {
    let batch = this.batches.get(channel);
    if (!batch) {
      const tx = this.clustered ? commandBatch(cmd) : (this.shared ??= cmd.pipeline());
      this.batches.set(channel, (batch = { tx, records: [] }));
    }
    return batch;
  }

  /** The instance's member hash: in the shared pipeline, or (cluster) its own command. */
  private writeInst(cmd: RedisClientLike, tx: RedisPipelineLike, op: "hset" | "hdel", connectionId: string, roomId: string): void {
    const key = this.keys.inst(this.instanceId);
    if (!this.clustered) {
      if (op === "hset") tx.hset(key, connectionId, roomId);
      else tx.hdel(key, connectionId);
      return;
    }
    (op === "hset" ? cmd.hset(key, connectionId, roomId) : cmd.hdel(key, connectionId)).catch(this.failed);
  }

  private send(tx: RedisPipelineLike, channel: string, text: string): void {
    if (this.clustered) tx.spublish!(channel, text);
    else tx.publish(channel, text);
  }

  private schedule(): void {
    if (this.turnOpen) return;
    this.turnOpen = true;
    queueMicrotask(this.flush);
    nextTurn(this.endTurn);
  }

  private readonly endTurn = (): void => {
    this.turnOpen = false;
    this.flush();
  };

  private readonly check = (res: [Error | null, unknown][] | null): void => {
    const failure = res?.find(([error]) => error);
    if (failure) this.failed(failure[0]);
  };

  /** Send the batch: each room's remaining records as one PUBLISH after its writes, then run the pipelines. */
  private readonly flush = (): void => {
    if (this.batches.size === 0) return;
    const out = this.batches;
    const tx = this.shared;
    this.batches = new Map();
    this.shared = undefined;
    if (!this.command()) {
      for (const batch of out.values()) settle(batch);
      return;
    }
    for (const [channel, batch] of out) {
      if (batch.records.length > 0) this.send(batch.tx, channel, joinRecords(batch.records));
      if (this.clustered)
        batch.tx
          .exec()
          .then(this.check, this.failed)
          .finally(() => settle(batch));
    }
    tx?.exec()
      .then(this.check, this.failed)
      .finally(() => {
        for (const batch of out.values()) settle(batch);
      });
  };
}
