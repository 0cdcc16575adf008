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
 * end of the turn. At most two PUBLISH per room per turn, plus one per `presence` record (which ends
 * its PUBLISH), and none waits for a later turn (ioredis's auto-pipelining would hold each command
 * until after the next poll for I/O).
 *
 * On a single Redis every room shares one pipeline (one write). On a Redis Cluster each room's
 * commands go out as single commands on its node's connection (`commandBatch`: ioredis's Cluster
 * pipeline can mix up replies while nodes come and go), as does the instance's member hash.
 */
export function createPublisher({ keys, instanceId, clustered, command, failed }: PublisherOptions) {
  let batches = new Map<string, RoomBatch>();
  let shared: RedisPipelineLike | undefined;
  let turnOpen = false;
  const check = (res: [Error | null, unknown][] | null) => {
    const failure = res?.find(([error]) => error);
    if (failure) failed(failure[0]);
  };

  function batchOf(cmd: RedisClientLike, roomId: string): RoomBatch {
    let batch = batches.get(roomId);
    if (!batch) {
      const tx = clustered ? commandBatch(cmd) : (shared ??= cmd.pipeline());
      batches.set(roomId, (batch = { tx, records: [] }));
    }
    return batch;
  }

  /** The instance's member hash: in the shared pipeline, or (cluster) its own command. */
  function writeInst(cmd: RedisClientLike, tx: RedisPipelineLike, op: "hset" | "hdel", connectionId: string, roomId: string) {
    const key = keys.inst(instanceId);
    if (!clustered) {
      if (op === "hset") tx.hset(key, connectionId, roomId);
      else tx.hdel(key, connectionId);
      return;
    }
    (op === "hset" ? cmd.hset(key, connectionId, roomId) : cmd.hdel(key, connectionId)).catch(failed);
  }

  const publishOn = (tx: RedisPipelineLike, roomId: string, text: string) =>
    clustered ? tx.spublish!(keys.channel(roomId), text) : tx.publish(keys.channel(roomId), text);

  const flush = () => {
    if (batches.size === 0) return;
    const out = batches;
    const tx = shared;
    batches = new Map();
    shared = undefined;
    if (!command()) {
      for (const batch of out.values()) settle(batch);
      return;
    }
    for (const [roomId, batch] of out) {
      if (batch.records.length > 0) publishOn(batch.tx, roomId, joinRecords(batch.records));
      if (clustered)
        batch.tx
          .exec()
          .then(check, failed)
          .finally(() => settle(batch));
    }
    tx?.exec()
      .then(check, failed)
      .finally(() => {
        for (const batch of out.values()) settle(batch);
      });
  };
  const endTurn = () => {
    turnOpen = false;
    flush();
  };
  const schedule = () => {
    if (turnOpen) return;
    turnOpen = true;
    queueMicrotask(flush);
    nextTurn(endTurn);
  };

  return {
    /**
     * Queue one room record (`header` is its encoded header). `last` ends its PUBLISH: the records after
     * it in this batch go in the next one (older instances drop everything after a record they do not know).
     */
    publish(roomId: string, header: string, frame: string, last = false) {
      const cmd = command();
      if (!cmd) return;
      const batch = batchOf(cmd, roomId);
      batch.records.push(`${header}\n${frame}`);
      if (last) {
        publishOn(batch.tx, roomId, joinRecords(batch.records));
        batch.records = [];
      }
      schedule();
    },
    /** Queue shared-state writes for members of `roomId`, ahead of every PUBLISH queued after them. */
    store(roomId: string, changes: readonly MemberChange[]): Promise<void> | undefined {
      const cmd = command();
      if (!cmd || changes.length === 0) return;
      const batch = batchOf(cmd, roomId);
      const { tx } = batch;
      const { fields, gone } = hashWrites(instanceId, changes);
      for (const { kind, connectionId } of changes) {
        if (kind === "updated") continue;
        if (kind === "joined") tx.set(keys.occupied(roomId), "1");
        writeInst(cmd, tx, kind === "joined" ? "hset" : "hdel", connectionId, roomId);
      }
      if (fields.length > 0) tx.hset(keys.room(roomId), ...fields);
      if (gone.length > 0) tx.hdel(keys.room(roomId), ...gone);
      schedule();
      // Only a join waits for its write (see membership.ts); updates and leaves need no promise.
      return changes.some((c) => c.kind === "joined") ? written(batch) : undefined;
    },
  };
}
