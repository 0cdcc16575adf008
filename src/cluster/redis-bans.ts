import type { SharedBans } from "./backplane.ts";
import type { RedisKeys } from "./redis-codec.ts";
import type { RedisClientLike } from "./redis-driver.ts";

/**
 * Room bans in Redis: one string key per ban, with `PX` for a timed ban so Redis drops it when it
 * expires, and a set per room naming the banned users for listing (an id whose key expired is removed
 * from the set when listed). Both keys carry the room's hash tag: one slot in a Redis Cluster.
 */
export function createRedisBans(
  command: () => RedisClientLike | undefined,
  keys: RedisKeys,
  failed: (error: unknown) => void,
  startedUp: () => Promise<void>,
): SharedBans {
  const need = () => {
    const cmd = command();
    if (!cmd) throw new Error("Redis is not connected");
    return cmd;
  };
  /** A read that answers `undefined` while Redis is away, reporting the failure. */
  const read = async <T>(run: (cmd: RedisClientLike) => Promise<T>): Promise<T | undefined> => {
    await startedUp(); // a ban made before this instance started is in Redis, not yet reachable
    const cmd = command();
    if (!cmd) return undefined;
    try {
      return await run(cmd);
    } catch (error) {
      failed(error);
      return undefined;
    }
  };
  return {
    async put(roomId, userId, record, ttlMs) {
      const cmd = need();
      await (ttlMs === undefined ? cmd.set(keys.ban(roomId, userId), record) : cmd.set(keys.ban(roomId, userId), record, "PX", ttlMs));
      await cmd.sadd(keys.bans(roomId), userId);
    },
    get: (roomId, userId) => read((cmd) => cmd.get(keys.ban(roomId, userId))),
    list: (roomId) =>
      read(async (cmd) => {
        const users = await cmd.smembers(keys.bans(roomId));
        const records = await Promise.all(users.map((u) => cmd.get(keys.ban(roomId, u))));
        const out: string[] = [];
        records.forEach((record, i) => {
          if (record === null) cmd.srem(keys.bans(roomId), users[i]!).catch(failed);
          else out.push(record);
        });
        return out;
      }),
    async remove(roomId, userId) {
      const cmd = need();
      const existed = (await cmd.exists(keys.ban(roomId, userId))) === 1;
      await cmd.del(keys.ban(roomId, userId));
      await cmd.srem(keys.bans(roomId), userId);
      return existed;
    },
  };
}
