import type { ResolvedStreams, Replay, StreamLog, StreamPosition } from "../../src/engine/streams.ts";
import { withOffset } from "../../src/engine/streams.ts";
import type { DurableObjectStateLike } from "./shapes.ts";

const LOG = "openlivesync_stream";
const KEYS = "openlivesync_stream_keys";
const STATE = "openlivesync_stream_state";

/** What the object holds in memory of its log, read once after each wake. */
interface Head {
  epoch: string;
  offset: number;
  /** The oldest kept offset and when it was written (0 when nothing is kept). */
  first: number;
  firstAt: number;
  bytes: number;
}

/**
 * A room's stream in its Durable Object's SQLite: offsets, the kept messages and the idempotency keys
 * survive the object's eviction and a restart of workerd, so a member that rejoins with `since` after the
 * room hibernated gets what it missed. The object is one room; `roomId` is not stored. The epoch is made
 * once per object storage. Each room message costs two rows written (the message, the offset), one more
 * with an idempotency key; the first use after a wake reads the log's head (one aggregate over at most
 * `size` rows). No timer: expired messages and keys go on the next write.
 */
export class DurableStreams implements StreamLog {
  readonly options: ResolvedStreams;
  private readonly storage: DurableObjectStateLike["storage"];
  private head: Head | undefined;

  constructor(storage: DurableObjectStateLike["storage"], options: ResolvedStreams) {
    this.storage = storage;
    this.options = options;
  }

  position(_roomId: string): StreamPosition {
    const head = this.load();
    return { offset: head.offset, epoch: head.epoch };
  }

  append(_roomId: string, frame: string, key?: string, resumeKey?: string): { frame: string; offset: number } {
    const head = this.load();
    const now = Date.now();
    const offset = ++head.offset;
    const framed = withOffset(frame, offset);
    this.storage.transactionSync(() => {
      this.exec(`insert into ${LOG} (seq, frame, at, sender) values (?, ?, ?, ?)`, offset, framed, now, resumeKey ?? null);
      this.exec(`update ${STATE} set seq = ? where id = 1`, offset);
      if (key !== undefined) {
        this.exec(`delete from ${KEYS} where at < ?`, now - this.options.ttlMs);
        this.exec(`insert or replace into ${KEYS} (key, seq, at) values (?, ?, ?)`, key, offset, now);
      }
    });
    if (head.first === 0) [head.first, head.firstAt] = [offset, now];
    head.bytes += framed.length;
    this.trim(head, now);
    return { frame: framed, offset };
  }

  remembered(_roomId: string, key: string): number | undefined {
    this.load();
    const row = this.rows(`select seq, at from ${KEYS} where key = ?`, key)[0];
    return row && Date.now() - Number(row.at) <= this.options.ttlMs ? Number(row.seq) : undefined;
  }

  replay(_roomId: string, since: StreamPosition, resumeKey?: string): Replay | undefined {
    const head = this.load();
    if (since.epoch !== head.epoch || since.offset > head.offset) return undefined;
    this.trim(head, Date.now());
    const first = head.first === 0 ? head.offset + 1 : head.first;
    if (since.offset + 1 < first) return undefined;
    const out: Replay = { frames: [], bytes: 0 };
    // A rejoiner's own events (sent under its resumeKey) are left out.
    const rows = this.rows(
      `select frame from ${LOG} where seq > ? and (sender is null or sender <> ?) order by seq`,
      since.offset,
      resumeKey ?? "",
    );
    for (const row of rows) {
      const frame = String(row.frame);
      out.frames.push(frame);
      out.bytes += frame.length;
    }
    return out;
  }

  /** Drop what is past `size` or older than `ttlMs`, then the oldest while over `maxBytes` (the newest stays). */
  private trim(head: Head, now: number): void {
    if (head.first === 0) return;
    const { size, ttlMs, maxBytes } = this.options;
    let upTo = head.offset - size;
    if (now - head.firstAt > ttlMs) {
      const expired = this.rows(`select max(seq) as s from ${LOG} where at < ?`, now - ttlMs)[0];
      upTo = Math.max(upTo, Number(expired?.s ?? 0));
    }
    if (upTo >= head.first) this.dropUpTo(head, upTo);
    while (head.bytes > maxBytes && head.first !== 0 && head.first < head.offset) this.dropUpTo(head, head.first);
  }

  private dropUpTo(head: Head, upTo: number): void {
    for (const row of this.rows(`delete from ${LOG} where seq <= ? returning length(frame) as n`, upTo)) head.bytes -= Number(row.n);
    this.refresh(head);
  }

  /** The oldest kept message's offset and time. */
  private refresh(head: Head): void {
    const row = this.rows(`select seq, at from ${LOG} order by seq limit 1`)[0];
    head.first = row ? Number(row.seq) : 0;
    head.firstAt = row ? Number(row.at) : 0;
  }

  private load(): Head {
    if (this.head) return this.head;
    this.exec(`create table if not exists ${LOG} (seq integer primary key, frame text not null, at integer not null, sender text)`);
    // A log made before senders were kept gets the column (its rows have none: replayed to everyone).
    try {
      this.rows(`select sender from ${LOG} limit 0`);
    } catch {
      this.exec(`alter table ${LOG} add column sender text`);
    }
    this.exec(`create table if not exists ${KEYS} (key text primary key, seq integer not null, at integer not null)`);
    this.exec(`create table if not exists ${STATE} (id integer primary key, epoch text not null, seq integer not null)`);
    let state = this.rows(`select epoch, seq from ${STATE} where id = 1`)[0];
    if (!state) {
      state = { epoch: crypto.randomUUID().slice(0, 13), seq: 0 };
      this.exec(`insert into ${STATE} (id, epoch, seq) values (1, ?, 0)`, state.epoch);
    }
    const kept = this.rows(`select coalesce(sum(length(frame)), 0) as bytes from ${LOG}`)[0];
    const head: Head = { epoch: String(state.epoch), offset: Number(state.seq), first: 0, firstAt: 0, bytes: Number(kept?.bytes ?? 0) };
    this.refresh(head);
    this.head = head;
    return head;
  }

  private exec(query: string, ...bindings: unknown[]): void {
    this.storage.sql.exec(query, ...bindings);
  }

  private rows(query: string, ...bindings: unknown[]): Record<string, unknown>[] {
    return this.storage.sql.exec(query, ...bindings).toArray();
  }
}
