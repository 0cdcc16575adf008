import type { SavedConnection } from "../../src/engine/connection.ts";
import type { DurableObjectStateLike, HibernatableSocket } from "./shapes.ts";

/**
 * What a hibernated socket carries so its object can wake without it: the room the object serves
 * (`home`) and the connection (id, identity, room and presence entry). workerd keeps an attachment of
 * at most 2,048 bytes; a bigger one (a large presence, a long token's claims) goes to a row of the
 * object's SQLite instead and the attachment only points at it.
 */
interface Attachment {
  v: 1;
  home: string;
  /** The connection, or undefined when it is in the members table under `id`. */
  c?: SavedConnection;
  id?: string;
}

/** Below workerd's 2,048-byte limit with room for the attachment's own keys (measured as UTF-16 length x 3 at worst). */
const MAX_INLINE = 2048 - 64;
const TABLE = "openlivesync_members";

/** Saved connections of one object: in each socket's attachment, or in the object's SQLite when too big. */
export class SavedConnections {
  private readonly storage: DurableObjectStateLike["storage"];
  /** Whether the members table exists; undefined until asked once. */
  private table: boolean | undefined;

  constructor(storage: DurableObjectStateLike["storage"]) {
    this.storage = storage;
  }

  /** Keep `saved` with `ws` (its socket). */
  save(ws: HibernatableSocket, home: string, saved: SavedConnection): void {
    const json = JSON.stringify(saved);
    if (json.length * 3 <= MAX_INLINE || new TextEncoder().encode(json).length <= MAX_INLINE) {
      ws.serializeAttachment({ v: 1, home, c: saved } satisfies Attachment);
      if (this.hasTable()) this.sql(`delete from ${TABLE} where id = ?`, saved.id);
      return;
    }
    this.ensureTable();
    this.sql(`insert into ${TABLE} (id, saved) values (?, ?) on conflict(id) do update set saved = excluded.saved`, saved.id, json);
    ws.serializeAttachment({ v: 1, home, id: saved.id } satisfies Attachment);
  }

  /** What `ws` carries, or undefined for a socket this adapter did not save. */
  load(ws: HibernatableSocket): { home: string; saved: SavedConnection } | undefined {
    const a = ws.deserializeAttachment() as Attachment | null | undefined;
    if (a?.v !== 1 || typeof a.home !== "string") return undefined;
    if (a.c) return { home: a.home, saved: a.c };
    if (!a.id || !this.hasTable()) return undefined;
    const row = this.storage.sql.exec(`select saved from ${TABLE} where id = ?`, a.id).toArray()[0];
    return row ? { home: a.home, saved: JSON.parse(String(row.saved)) as SavedConnection } : undefined;
  }

  /** The socket closed: forget its row, if it had one. */
  forget(id: string): void {
    if (this.hasTable()) this.sql(`delete from ${TABLE} where id = ?`, id);
  }

  private sql(query: string, ...bindings: unknown[]): void {
    this.storage.sql.exec(query, ...bindings);
  }

  private hasTable(): boolean {
    this.table ??= this.storage.sql.exec("select 1 from sqlite_master where type = 'table' and name = ?", TABLE).toArray().length > 0;
    return this.table;
  }

  private ensureTable(): void {
    if (this.table) return;
    this.sql(`create table if not exists ${TABLE} (id text primary key, saved text not null)`);
    this.table = true;
  }
}
