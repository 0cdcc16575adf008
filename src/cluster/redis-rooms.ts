import type { RedisKeys } from "./redis-codec.ts";
import { type RedisClientLike, runScript } from "./redis-driver.ts";

/**
 * Deletes the room's "occupied" mark when its member hash is gone: of several instances that find the
 * room empty at once, exactly one deletes the mark (1), the others find it gone (0). A room stream's
 * counter goes too when it keeps no message (nothing to replay: a later join starts a new epoch), so an
 * empty room leaves nothing behind. Every key carries the room's hash tag, so the script touches one slot.
 */
const CLAIM_EMPTIED = `if redis.call('exists', KEYS[1]) == 1 then return 0 end
if redis.call('exists', KEYS[4]) == 0 then redis.call('del', KEYS[3]) end
return redis.call('del', KEYS[2])`;

/** True when `roomId` has no member left in shared state and this call was the first to see it. */
export async function claimEmptied(cmd: RedisClientLike, keys: RedisKeys, roomId: string): Promise<boolean> {
  return (
    (await runScript(
      cmd,
      "olsClaimEmptied",
      CLAIM_EMPTIED,
      4,
      keys.room(roomId),
      keys.occupied(roomId),
      keys.seq(roomId),
      keys.log(roomId),
    )) === 1
  );
}

/**
 * Every room with members and how many, from the member hash of each registered instance (connection
 * id → room id): one HVALS per instance, each key in its own slot. Members of an instance that is
 * re-announcing after a Redis restart are missing until it has.
 */
export async function listRooms(cmd: RedisClientLike, keys: RedisKeys): Promise<Map<string, number>> {
  const instances = await cmd.smembers(keys.registry);
  const perInstance = await Promise.all(instances.map((id) => cmd.hvals(keys.inst(id))));
  const counts = new Map<string, number>();
  for (const roomIds of perInstance) for (const roomId of roomIds) counts.set(roomId, (counts.get(roomId) ?? 0) + 1);
  return counts;
}
