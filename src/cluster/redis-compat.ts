import { leftFrame, presenceFrame } from "../protocol/frames.ts";
import type { OutgoingMessage } from "./backplane.ts";

/**
 * Rolling upgrades between instances with and without presence batching.
 *
 * Instances before it send one `j`/`u`/`l` record per member change and know no other presence
 * record: to them a `p` record (a room's news of one window) is "not an openlivesync message". They
 * drop it together with the records after it in the same PUBLISH, report it (at most once a second,
 * stage `backplane`) and go on; nothing crashes. So that they lose nothing else, a `p` record always
 * ends its PUBLISH.
 *
 * So that they lose no presence either, an instance sends `p` records only while every live instance
 * says it reads them. Each instance writes its features into its heartbeat value (`<ms> news`; older
 * instances write `<ms>` and never read the value) and reads its peers' heartbeats on every beat
 * (`GET` instead of `EXISTS`). While any live peer lacks `news`, this instance sends the window's news
 * as one `u` record per joined or updated member and one `l` per leaver (what older receivers apply:
 * `u` for a member they do not know is a join), still in one PUBLISH per room per tick. When such a
 * peer first shows up it may have dropped `p` records already: a `sync` on the instance channel makes
 * every instance re-read its rooms from shared state, which is exact (joins and leaves are stored at
 * once, updates before their message).
 */
export const NEWS_FEATURE = "news";

/** This instance's heartbeat value. */
export const beatValue = (now: number): string => `${now} ${NEWS_FEATURE}`;

/** Whether the instance that wrote heartbeat value `beat` reads `p` records. */
export const readsNews = (beat: string): boolean => beat.split(" ").includes(NEWS_FEATURE);

/** A `presence` message as the single-member records older instances read. */
export function legacyRecords(
  message: Extract<OutgoingMessage, { kind: "presence" }>,
): { kind: "updated" | "left"; connectionId: string; frame: string }[] {
  const { roomId, presence } = message;
  const out: { kind: "updated" | "left"; connectionId: string; frame: string }[] = [];
  for (const m of [...presence.joined, ...presence.updated]) {
    out.push({ kind: "updated", connectionId: m.connectionId, frame: presenceFrame(roomId, "updated", m.entry) });
  }
  for (const id of presence.left) out.push({ kind: "left", connectionId: id, frame: leftFrame(roomId, [id]) });
  return out;
}
