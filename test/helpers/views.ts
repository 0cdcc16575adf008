import type { Received, TestClient } from "./client.ts";

/** Presence as one client sees it: `room_joined.presence` plus every diff after it, as sorted ids. */
export function view(client: TestClient, roomId: string): string[] {
  const ids = new Set<string>();
  let started = false;
  for (const m of client.received) {
    if (m.payload?.roomId !== roomId) continue;
    if (m.type === "room_joined") {
      ids.clear();
      for (const id of Object.keys(m.payload.presence)) ids.add(id);
      started = true;
    } else if (started && m.type === "presence_updated") {
      for (const e of m.payload.joined ?? []) ids.add(e.connectionId);
      for (const id of m.payload.left ?? []) ids.delete(id);
    }
  }
  return [...ids].sort();
}

/**
 * Presence news a client was told twice: a member `joined` while already shown, or `left` while not
 * shown (a backplane message applied twice, or a ghost). Empty when every diff changed the view.
 */
export function repeatedNews(client: TestClient, roomId: string): string[] {
  const shown = new Set<string>();
  const repeats: string[] = [];
  for (const m of client.received) {
    if (m.payload?.roomId !== roomId) continue;
    if (m.type === "room_joined") {
      shown.clear();
      for (const id of Object.keys(m.payload.presence)) shown.add(id);
    } else if (m.type === "presence_updated") {
      for (const e of m.payload.joined ?? []) {
        if (shown.has(e.connectionId)) repeats.push(`joined ${e.connectionId}`);
        shown.add(e.connectionId);
      }
      for (const id of m.payload.left ?? []) {
        if (!shown.has(id)) repeats.push(`left ${id}`);
        shown.delete(id);
      }
    }
  }
  return repeats;
}

export const leftOf = (id: string) => (all: Received[]) => all.some((m) => m.payload?.left?.includes(id));
export const joinedOf = (id: string) => (all: Received[]) => all.some((m) => m.payload?.joined?.some((e: any) => e.connectionId === id));
