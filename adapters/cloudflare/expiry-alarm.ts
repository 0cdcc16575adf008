import type { Connection } from "../../src/engine/connection.ts";
import type { DurableObjectStateLike } from "./shapes.ts";

/**
 * Token expiry without a timer (`RuntimeCapabilities.expiry`): one Durable Object alarm, set for the
 * earliest expiry among the object's connections. A timer would hold the object in memory until the token
 * expires; an alarm lets it hibernate and wakes it then. On wake the engine re-arms each connection from
 * its saved identity (`exp`), so the alarm is set again from the attachments; an expiry already past
 * closes the connection (4401) as it is restored.
 */
export class ExpiryAlarm {
  private readonly storage: DurableObjectStateLike["storage"];
  private readonly due = new Map<Connection, { at: number; expire: () => void }>();
  /** The alarm this object set, in ms (undefined: none set by this instance). */
  private set: number | undefined;

  constructor(storage: DurableObjectStateLike["storage"]) {
    this.storage = storage;
  }

  /** When `conn` expires (ms), for the attachment: its identity's `exp` may have come from a join token. */
  at(conn: Connection): number | undefined {
    return this.due.get(conn)?.at;
  }

  readonly arm = (conn: Connection, at: number, expire: () => void): void => {
    this.due.set(conn, { at, expire });
    this.schedule();
  };

  /** The alarm rang: close every connection whose token expired, then set the alarm for the next one. */
  fire(now = Date.now()): void {
    this.set = undefined;
    for (const [conn, { at, expire }] of this.due) {
      if (conn.closed) this.due.delete(conn);
      else if (at <= now) {
        this.due.delete(conn);
        expire();
      }
    }
    this.schedule();
  }

  private schedule(): void {
    let earliest: number | undefined;
    for (const [conn, { at }] of this.due) {
      if (conn.closed) this.due.delete(conn);
      else if (earliest === undefined || at < earliest) earliest = at;
    }
    if (earliest === undefined || earliest === this.set) return;
    this.set = earliest;
    void this.storage.setAlarm(earliest);
  }
}
