import type { SharedBans } from "../cluster/backplane.ts";
import type { OnError } from "../errors.ts";
import { BackplaneError } from "../cluster/backplane.ts";
import { isPlainObject } from "../util/json.ts";

/** A user barred from a room: its `join_room` is refused with `FORBIDDEN` until `expiresAt` (or until lifted). */
export interface Ban {
  roomId: string;
  userId: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** Milliseconds since the epoch; absent: until lifted. */
  expiresAt?: number;
  reason?: string;
}

/** What `ban` takes (`POST /api/rooms/:roomId/bans`). */
export interface BanInput {
  userId: string;
  /** How long the ban lasts; absent: until lifted. At most a year. */
  durationMs?: number;
  /** Shown in the ban list (never sent to the banned user). */
  reason?: string;
}

function parseBan(record: string | null | undefined): Ban | undefined {
  if (!record) return undefined;
  try {
    const ban = JSON.parse(record);
    if (isPlainObject(ban) && typeof ban.roomId === "string" && typeof ban.userId === "string" && typeof ban.createdAt === "number")
      return ban as unknown as Ban;
  } catch {}
  return undefined;
}

const live = (ban: Ban | undefined, now: number) => ban !== undefined && (ban.expiresAt === undefined || ban.expiresAt > now);

/**
 * The room bans this instance enforces: its own memory (every ban made here or announced by another
 * instance on the control channel) and, with a backplane that stores them, shared state (bans made
 * before this instance started). A join looks in memory first and asks shared state only when memory
 * has nothing; shared state unreachable means memory's answer.
 */
export class RoomBans {
  private readonly local = new Map<string, Map<string, Ban>>();
  private readonly shared: SharedBans | undefined;
  private readonly report: OnError;

  constructor(shared: SharedBans | undefined, report: OnError) {
    this.shared = shared;
    this.report = report;
  }

  /** Keep `ban` in this instance's memory (made here, or announced by another instance). */
  remember(ban: Ban): void {
    let room = this.local.get(ban.roomId);
    if (!room) this.local.set(ban.roomId, (room = new Map()));
    room.set(ban.userId, ban);
  }

  forget(roomId: string, userId: string): boolean {
    const room = this.local.get(roomId);
    const had = room?.delete(userId) ?? false;
    if (room?.size === 0) this.local.delete(roomId);
    return had;
  }

  /** Record a ban here and in shared state (rejects when shared state refuses it). */
  async add(ban: Ban): Promise<void> {
    this.remember(ban);
    if (!this.shared) return;
    const ttl = ban.expiresAt === undefined ? undefined : Math.max(1, ban.expiresAt - Date.now());
    try {
      await this.shared.put(ban.roomId, ban.userId, JSON.stringify(ban), ttl);
    } catch (error) {
      throw new BackplaneError("The ban could not be stored in shared state; it holds on this instance and those told of it", {
        cause: error,
      });
    }
  }

  /** Lift a ban; true when there was one (here or in shared state). */
  async remove(roomId: string, userId: string): Promise<boolean> {
    const here = this.forget(roomId, userId);
    if (!this.shared) return here;
    try {
      return (await this.shared.remove(roomId, userId)) || here;
    } catch (error) {
      throw new BackplaneError("The ban could not be lifted in shared state", { cause: error });
    }
  }

  /** The ban in force on `userId` in `roomId`, if any. */
  async find(roomId: string, userId: string): Promise<Ban | undefined> {
    const now = Date.now();
    const here = this.local.get(roomId)?.get(userId);
    if (live(here, now)) return here;
    if (here) this.forget(roomId, userId);
    if (!this.shared) return undefined;
    const ban = parseBan(await this.shared.get(roomId, userId));
    return live(ban, now) ? ban : undefined;
  }

  /** The room's bans in force, oldest first: from shared state when reachable, else this instance's. */
  async list(roomId: string): Promise<Ban[]> {
    const now = Date.now();
    const records = await this.shared?.list(roomId);
    let bans: Ban[];
    if (records) bans = records.map(parseBan).filter((b): b is Ban => b !== undefined);
    else {
      if (this.shared) this.report(new BackplaneError("Shared state unreachable: listing this instance's bans"), { stage: "backplane" });
      bans = [...(this.local.get(roomId)?.values() ?? [])];
    }
    return bans.filter((b) => live(b, now)).sort((a, b) => a.createdAt - b.createdAt);
  }
}
