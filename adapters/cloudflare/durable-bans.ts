import type { SharedBans } from "../../src/cluster/backplane.ts";
import type { DurableObjectStateLike } from "./shapes.ts";

const TABLE = "openlivesync_bans";

/**
 * A room's bans in its Durable Object's SQLite, as the engine's shared ban state (`RuntimeCapabilities.bans`):
 * a ban made through the HTTP API holds after the object was evicted or workerd restarted. A join whose
 * user the object's memory does not know reads one row; the table is made on first use.
 */
export function createDurableBans(storage: DurableObjectStateLike["storage"]): SharedBans {
  let made = false;
  const rows = (query: string, ...bindings: unknown[]) => {
    if (!made) {
      storage.sql.exec(
        `create table if not exists ${TABLE} (room_id text not null, user_id text not null, record text not null, expires_at integer, primary key (room_id, user_id))`,
      );
      made = true;
    }
    return storage.sql.exec(query, ...bindings).toArray();
  };
  const live = "(expires_at is null or expires_at > ?)";
  return {
    async put(roomId, userId, record, ttlMs) {
      const expiresAt = ttlMs === undefined ? null : Date.now() + ttlMs;
      rows(`insert or replace into ${TABLE} (room_id, user_id, record, expires_at) values (?, ?, ?, ?)`, roomId, userId, record, expiresAt);
    },
    async get(roomId, userId) {
      const row = rows(`select record from ${TABLE} where room_id = ? and user_id = ? and ${live}`, roomId, userId, Date.now())[0];
      return row ? String(row.record) : null;
    },
    async list(roomId) {
      rows(`delete from ${TABLE} where expires_at <= ?`, Date.now());
      return rows(`select record from ${TABLE} where room_id = ?`, roomId).map((row) => String(row.record));
    },
    async remove(roomId, userId) {
      return rows(`delete from ${TABLE} where room_id = ? and user_id = ? returning 1 as had`, roomId, userId).length > 0;
    },
  };
}
