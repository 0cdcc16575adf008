import type { RedisClientLike } from "./redis-driver.ts";
import type { RedisKeys } from "./redis-codec.ts";
import { RETRY_MS, type Sequenced, type SequenceItem, type SequenceLimits, sequence } from "./redis-streams.ts";

/** At most this many records per script call (Lua's `unpack` has a stack limit). */
const MAX_BATCH = 200;

/** A sequencing call's records, each waiting for its answer: `undefined` not sent, `null` outcome unknown. */
type Pending = { item: SequenceItem; done: (s: Sequenced | null | undefined) => void }[];

/** The call surely did not run (Redis answered an error, or ioredis refused to write it), unlike an answer that never came. */
const notRun = (error: unknown) =>
  error instanceof Error && (error.name === "ReplyError" || error.message.includes("enableOfflineQueue options is false"));

/**
 * Sequences a turn's records per room in one script call each, sent in a microtask: a burst of
 * messages costs Redis one call and its subscribers one message per room, as the publisher's batches do.
 * A room's calls go out in order on one connection, so its records keep their order.
 *
 * Each call has an id unique to this instance. When its answer is lost (the connection dropped after
 * sending it: Redis may or may not have run it), the call is sent again with the same id until Redis
 * answers, for up to RETRY_MS: the script answers a repeat with the first run's answer, so a message is
 * sequenced and published once. The room's later calls wait behind it, so its order holds. Past RETRY_MS
 * the records resolve `null` (outcome unknown: the caller must not deliver them itself).
 */
export class Sequencer {
  private pending = new Map<string, Pending>();
  /** Rooms with a call being retried: their later calls go out after it, until the retries' deadline. */
  private readonly retrying = new Map<string, { tail: Promise<void>; deadline: number }>();
  private calls = 0;
  private readonly o: { command: () => RedisClientLike | undefined; keys: RedisKeys; failed: (error: unknown) => void; instanceId: string };

  constructor(o: Sequencer["o"]) {
    this.o = o;
  }

  add(roomId: string, item: SequenceItem, limits: SequenceLimits): Promise<Sequenced | null | undefined> {
    if (this.pending.size === 0) queueMicrotask(() => this.flush(limits));
    let queue = this.pending.get(roomId);
    if (!queue) this.pending.set(roomId, (queue = []));
    return new Promise((done) => queue.push({ item, done }));
  }

  private flush(limits: SequenceLimits): void {
    const pending = this.pending;
    this.pending = new Map();
    const cmd = this.o.command();
    for (const [roomId, queue] of pending) {
      for (let i = 0; i < queue.length; i += MAX_BATCH) {
        const part = queue.slice(i, i + MAX_BATCH);
        const callId = `${this.o.instanceId}:${(++this.calls).toString(36)}`;
        if (this.retrying.has(roomId)) this.behind(roomId, part, limits, callId, false);
        else if (!cmd) settle(part, undefined);
        else this.call(cmd, roomId, part, limits, callId);
      }
    }
  }

  private call(cmd: RedisClientLike, roomId: string, part: Pending, limits: SequenceLimits, callId: string): void {
    const items = part.map((p) => p.item);
    sequence(cmd, this.o.keys, roomId, items, limits, callId).then(
      (answers) => answer(part, answers),
      (error: unknown) => {
        this.o.failed(error);
        // Sent, its answer lost: again with the same id, after any call of the room already retrying.
        if (notRun(error)) settle(part, undefined);
        else this.behind(roomId, part, limits, callId, true);
      },
    );
  }

  /** Queue `part` behind the room's retries (starting them): sent (again) once those are over. */
  private behind(roomId: string, part: Pending, limits: SequenceLimits, callId: string, sent: boolean): void {
    const retries = this.retrying.get(roomId) ?? { tail: Promise.resolve(), deadline: Date.now() + RETRY_MS };
    const tail = retries.tail.then(() => this.retry(roomId, part, limits, callId, sent, retries.deadline));
    this.retrying.set(roomId, { tail, deadline: retries.deadline });
    void tail.then(() => {
      if (this.retrying.get(roomId)?.tail === tail) this.retrying.delete(roomId); // the last: calls go straight out again
    });
  }

  /**
   * Send the call (again) until Redis answers or `deadline` passes; then its records resolve `null`
   * when it may have run (`sent`), else `undefined` (served here without an offset, as when Redis is away).
   */
  private async retry(roomId: string, part: Pending, limits: SequenceLimits, callId: string, sent: boolean, deadline: number) {
    const items = part.map((p) => p.item);
    for (let wait = 25; Date.now() < deadline; wait = Math.min(wait * 2, 500)) {
      const cmd = this.o.command();
      if (cmd) {
        try {
          return answer(part, await sequence(cmd, this.o.keys, roomId, items, limits, callId));
        } catch (error) {
          // Refused unwritten, a retry stays unknown (an earlier attempt may have run); a first attempt was never sent.
          if (!notRun(error)) sent = true;
          else if (!sent || (error as Error).name === "ReplyError") return settle(part, undefined);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    settle(part, sent ? null : undefined);
  }
}

function answer(part: Pending, answers: Sequenced[]): void {
  for (let k = 0; k < part.length; k++) part[k]!.done(answers[k]);
}

function settle(part: Pending, outcome: null | undefined): void {
  for (const p of part) p.done(outcome);
}
