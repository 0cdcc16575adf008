/**
 * The client against a real server: one suite, run with the server under Node, Bun and Deno
 * (client-node/bun/deno.test.ts). The client runs here, on Node with `ws`; test/client/built-on-runtimes.test.ts
 * runs it under Bun and Deno.
 */
import { UnsecuredJWT } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import type { Runtime } from "../fixtures/child.ts";
import { TestClient } from "../helpers/client.ts";
import { disconnectAll, liveClient, messagesOf, until } from "../helpers/live-clients.ts";
import { startRestartable, type RestartableServer } from "../helpers/restartable.ts";
import type { LiveSyncClient } from "../../src/client/index.ts";

/** A small deterministic generator, so a failing sequence can be replayed. */
function random(state: number) {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

export function clientSuite(runtime: Runtime) {
  describe(`client against the ${runtime} server`, () => {
    const servers: RestartableServer[] = [];
    const start = async (...args: Parameters<typeof startRestartable> extends [unknown, ...infer R] ? R : never) => {
      const server = await startRestartable(runtime, ...args);
      servers.push(server);
      return server;
    };
    afterEach(async () => {
      disconnectAll();
      await Promise.all(servers.splice(0).map((s) => s.kill()));
    });

    for (const first of [1, 2, 3, 4, 5, 6]) {
      it(`keeps the presence map equal to a fresh join's snapshot after random joins, leaves and updates (start ${first})`, async () => {
        const server = await start({ presenceThrottleMs: 20 });
        const rand = random(first);
        const clients = Array.from({ length: 4 }, () => liveClient(server.wsUrl, { presenceThrottleMs: 10 }));
        const inRoom = new Set<LiveSyncClient>();
        for (const c of clients) c.connect();
        for (let step = 0; step < 80; step++) {
          const c = clients[Math.floor(rand() * clients.length)]!;
          const roll = rand();
          if (!inRoom.has(c) || roll < 0.1) {
            c.joinRoom("r", { step, x: Math.floor(rand() * 100) }, { name: `n${clients.indexOf(c)}` });
            inRoom.add(c);
          } else if (roll < 0.2) {
            c.leaveRoom();
            inRoom.delete(c);
          } else if (roll < 0.25) {
            // A whole new socket: the server sees a leave and a join.
            c.disconnect();
            c.connect();
            c.joinRoom("r", { step, again: true });
          } else {
            c.updatePresence({ step, x: Math.floor(rand() * 100), y: rand() < 0.5 ? null : { nested: [step] } });
          }
          if (rand() < 0.5) await turn();
        }
        const members = clients.filter((c) => inRoom.has(c));
        await Promise.all(members.map((c) => until(c, (s) => s.inRoom, "rejoin")));
        // The server may still hold a throttled trailing update when a joiner arrives; that joiner's snapshot
        // is then one update old. Take snapshots until one is current: every member must come to equal it.
        const same = (a: object, b: object) =>
          JSON.stringify(sorted(a as Record<string, unknown>)) === JSON.stringify(sorted(b as Record<string, unknown>));
        let snapshot: Record<string, unknown> = {};
        for (let attempt = 0; attempt < 5; attempt++) {
          const fresh = new TestClient(server.wsUrl);
          const joined = await fresh.join("r");
          snapshot = joined.presence;
          const settled = await Promise.all(
            members.map((c) =>
              until(c, (st) => same(st.presence, snapshot), "the snapshot", 3000).then(
                () => true,
                () => false,
              ),
            ),
          );
          if (settled.every(Boolean)) {
            for (const c of members) expect(c.getState().presence).toEqual(snapshot);
            expect(Object.keys(snapshot)).toHaveLength(members.length + 1);
            fresh.terminate();
            return;
          }
          fresh.terminate();
          await Promise.all(members.map((c) => until(c, (st) => !(joined.connectionId in st.presence), "the previous joiner gone")));
        }
        const differences = members.map((c) => {
          const mine = c.getState().presence;
          const keys = new Set([...Object.keys(mine), ...Object.keys(snapshot)]);
          return [...keys]
            .filter((k) => JSON.stringify(canonical(mine[k])) !== JSON.stringify(canonical(snapshot[k])))
            .map((k) => ({ member: c.getState().connectionId, entry: k, client: mine[k], server: snapshot[k] }));
        });
        expect(differences.flat()).toEqual([]);
      });
    }

    it("delivers the resting cursor position when updates are throttled", async () => {
      const server = await start({});
      const mover = liveClient(server.wsUrl, { presenceThrottleMs: 100 });
      const watcher = liveClient(server.wsUrl);
      for (const c of [mover, watcher]) c.connect();
      mover.joinRoom("cursors", { x: -1 });
      watcher.joinRoom("cursors");
      const moverId = (await until(mover, (s) => s.inRoom)).connectionId!;
      await until(watcher, (s) => s.inRoom && moverId in s.presence);
      for (let x = 0; x < 60; x++) {
        mover.updatePresence({ x });
        if (x % 10 === 0) await turn();
      }
      const seen = await until(watcher, (s) => s.presence[moverId]?.presence.x === 59, "x = 59");
      expect(seen.presence[moverId]!.presence).toEqual({ x: 59 });
      expect(mover.getState().presence[moverId]!.presence).toEqual({ x: 59 });
    });

    it("hands relayed broadcast events to onEvent handlers, by name and with '*'", async () => {
      const server = await start({});
      const a = liveClient(server.wsUrl);
      const b = liveClient(server.wsUrl);
      for (const c of [a, b]) {
        c.connect();
        c.joinRoom("events");
      }
      await until(a, (s) => s.inRoom);
      const bId = (await until(b, (s) => s.inRoom)).connectionId;
      const named: unknown[] = [];
      const all: string[] = [];
      const ownSeen: unknown[] = [];
      a.onEvent("cursor", (payload, event) => named.push({ payload, from: event.connectionId }));
      const off = a.onEvent("*", (_payload, event) => all.push(event.event));
      b.onEvent("*", (payload) => ownSeen.push(payload));
      expect(b.broadcastEvent("cursor", { x: 1 })).toBe(true);
      expect(b.broadcastEvent("ping")).toBe(true);
      b.sendChat("after the events");
      await until(a, (s) => messagesOf(s).includes("after the events"));
      expect(named).toEqual([{ payload: { x: 1 }, from: bId }]);
      expect(all).toEqual(["cursor", "ping"]);
      expect(ownSeen).toEqual([]);
      off();
      b.broadcastEvent("ping");
      b.sendChat("second");
      await until(a, (s) => messagesOf(s).includes("second"));
      expect(all).toEqual(["cursor", "ping"]);
    });

    it("rejoins with its last presence and identity after the server is killed and restarted", async () => {
      const server = await start({});
      const a = liveClient(server.wsUrl);
      const b = liveClient(server.wsUrl);
      a.connect();
      b.connect();
      a.joinRoom("room", { color: "red" }, { name: "Ada" });
      b.joinRoom("room", { color: "blue" }, { name: "Bob" });
      const firstId = (await until(a, (s) => s.inRoom)).connectionId!;
      await until(b, (s) => s.inRoom && firstId in s.presence);
      a.updatePresence({ color: "red", x: 42 });
      await until(b, (s) => s.presence[firstId]?.presence.x === 42);

      await server.kill();
      await until(a, (s) => s.status === "reconnecting" && !s.inRoom, "reconnecting");
      a.updatePresence({ color: "red", x: 43 }); // moved while offline: goes out with the rejoin
      await server.restart();

      const back = await until(
        a,
        (s) => s.inRoom && s.connectionId !== firstId && Object.keys(s.presence).length === 2,
        "back in the room",
      );
      const newId = back.connectionId!;
      const seen = await until(b, (s) => s.inRoom && s.presence[newId]?.presence.x === 43, "A's presence after the restart");
      expect(seen.presence[newId]).toMatchObject({ name: "Ada", presence: { color: "red", x: 43 } });
      expect(Object.keys(seen.presence)).toHaveLength(2);
      const bEntry = Object.values(back.presence).find((e) => e.connectionId !== newId);
      expect(bEntry).toMatchObject({ name: "Bob", presence: { color: "blue" } });
      expect(a.getState().status).toBe("open");
    });

    it("queues chat sent while the server is down and sends it in order once back", async () => {
      const server = await start({});
      const a = liveClient(server.wsUrl);
      const b = liveClient(server.wsUrl);
      for (const c of [a, b]) {
        c.connect();
        c.joinRoom("queue");
      }
      await until(a, (s) => s.inRoom);
      await until(b, (s) => s.inRoom);
      await server.kill();
      await until(a, (s) => !s.inRoom);
      for (const m of ["one", "two", "three"]) a.sendChat(m);
      expect(a.getState().pendingMessages.map((p) => p.message)).toEqual(["one", "two", "three"]);
      await server.restart();
      const seen = await until(b, (s) => s.inRoom && messagesOf(s).length === 3, "three messages");
      expect(messagesOf(seen)).toEqual(["one", "two", "three"]);
      const sent = await until(a, (s) => s.pendingMessages.length === 0 && messagesOf(s).length === 3, "acknowledged");
      expect(messagesOf(sent)).toEqual(["one", "two", "three"]);
    });

    it("refuses more offline sends than maxQueuedMessages with QueueFullError", async () => {
      const server = await start({});
      const a = liveClient(server.wsUrl, { maxQueuedMessages: 2 });
      a.joinRoom("bounded"); // not connected yet: everything queues
      a.sendChat("1");
      a.sendChat("2");
      expect(() => a.sendChat("3")).toThrow(expect.objectContaining({ name: "QueueFullError", code: "QUEUE_FULL" }));
      a.connect();
      const s = await until(a, (st) => st.pendingMessages.length === 0 && messagesOf(st).length === 2);
      expect(messagesOf(s)).toEqual(["1", "2"]);
    });

    it("after a 4401 (token expired) calls getAuthToken again and comes back to the room", async () => {
      const server = await start({ onAuth: "token" });
      let calls = 0;
      // The first token lives two to three seconds; the server closes with 4401 when it expires.
      const getAuthToken = async () => {
        calls++;
        const ttl = calls === 1 ? 3 : 3600;
        return new UnsecuredJWT({ sub: "u1", name: `token ${calls}` }).setExpirationTime(Math.floor(Date.now() / 1000) + ttl).encode();
      };
      const a = liveClient(server.wsUrl, { getAuthToken });
      const statuses: string[] = [];
      a.subscribe((s) => statuses.at(-1) !== s.status && statuses.push(s.status));
      a.connect();
      a.joinRoom("auth", { here: true });
      const first = await until(a, (s) => s.inRoom);
      expect(first.presence[first.connectionId!]).toMatchObject({ userId: "u1", name: "token 1" });
      const again = await until(a, (s) => s.inRoom && s.connectionId !== first.connectionId, "rejoined with a new token");
      expect(calls).toBe(2);
      expect(again.presence[again.connectionId!]).toMatchObject({ userId: "u1", name: "token 2", presence: { here: true } });
      expect(statuses).toEqual(["connecting", "open", "reconnecting", "open"]);
    });
  });
}

function sorted(presence: Record<string, unknown>) {
  return Object.fromEntries(
    Object.entries(presence)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, canonical(v)]),
  );
}
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object")
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, canonical(v)]),
    );
  return value;
}
