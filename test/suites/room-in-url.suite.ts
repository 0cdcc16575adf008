/**
 * Our client with `roomInUrl`: each room on its own socket, the room named in the URL. Run against
 * workerd (where that socket goes straight to the room's Durable Object) and Node (which ignores it).
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { TestClient } from "../helpers/client.ts";
import { disconnectAll, liveClient, messagesOf, until } from "../helpers/live-clients.ts";
import type { Fixture, StartFixture } from "./wire-protocol.suite.ts";

export function roomInUrlSuite(runtime: string, start: StartFixture) {
  describe(`client with roomInUrl against ${runtime}`, () => {
    let fixture: Promise<Fixture> | undefined;
    const watchers: TestClient[] = [];
    const server = () => (fixture ??= start({}));
    const watcher = async (roomId: string) => {
      const w = new TestClient((await server()).wsUrl);
      watchers.push(w);
      return { w, joined: await w.join(roomId) };
    };
    afterEach(() => {
      disconnectAll();
      for (const w of watchers.splice(0)) w.terminate();
    });
    afterAll(async () => (await fixture)?.stop());

    it("joins over a socket that names the room, and moves to another room by opening a new socket", async () => {
      const tag = Math.random().toString(36).slice(2, 8);
      const [r1, r2] = [`r1-${tag}`, `r2-${tag}`];
      const { w: w1 } = await watcher(r1);
      const { w: w2 } = await watcher(r2);
      const c = liveClient((await server()).wsUrl, { roomInUrl: true });
      c.connect();
      c.joinRoom(r1, { at: 1 });
      const first = await until(c, (s) => s.inRoom && s.currentRoomId === r1 && Object.keys(s.presence).length === 2, "in r1");
      c.sendChat("in one");
      expect((await w1.next("chat_message")).payload.message).toBe("in one");

      c.joinRoom(r2, { at: 2 });
      await w1.until((all) => all.some((m) => m.payload?.left?.includes(first.connectionId)));
      const second = await until(c, (s) => s.inRoom && s.currentRoomId === r2 && Object.keys(s.presence).length === 2, "in r2");
      expect(second.presence[second.connectionId!]?.presence).toEqual({ at: 2 });
      c.sendChat("in two");
      expect((await w2.next("chat_message")).payload.message).toBe("in two");
      expect(messagesOf(await until(c, (s) => s.pendingMessages.length === 0, "acknowledged"))).toEqual(["in two"]);
      expect(second.lastError).toBeNull();
    });
  });
}
