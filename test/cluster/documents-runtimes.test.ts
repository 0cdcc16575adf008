/**
 * Shared documents across Node, Bun and Deno instances (issue 24's "must show"), on a private single Redis
 * and a private Redis Cluster: two stock y-websocket providers on one instance, a stock Hocuspocus provider
 * on another and a late joiner on a third converge and see each other's awareness; and when an instance is
 * SIGKILLed, its clients' awareness states leave the others' clients as soon as the backplane finds it dead
 * (its heartbeat TTL, 2 s here), sent by the server, not by y-protocols' 30 s outdated timeout on the client.
 */
import { spawnSync } from "node:child_process";
import type { Awareness } from "y-protocols/awareness";
import { afterEach, describe, expect, it } from "vitest";
import { redisKeys } from "../../src/cluster/redis-codec.ts";
import { startChild, type Runtime } from "../fixtures/child.ts";
import { openEditor, openHocuspocus, until } from "../helpers/documents.ts";
import { privateRedises } from "../helpers/private-redises.ts";
import type { Fixture } from "../suites/wire-protocol.suite.ts";

const docName = () => `doc-${Math.random().toString(36).slice(2, 10)}`;

const { single, cluster } = await privateRedises("documents");

const targets: [string, string | undefined][] = [
  ["a single Redis", single?.url],
  ["a Redis Cluster", cluster?.url],
];

/** One client of a document, whichever provider: its text, awareness, and how each remote state was removed. */
interface Client {
  label: string;
  clientId: number;
  text: { toString(): string; insert(at: number, s: string): void; length: number };
  awareness: Awareness;
  /** The origin of each removal of a remote client's state: the provider (the server said so) or "timeout". */
  removedBy: Map<number, unknown>;
  origin: unknown;
  setUser(name: string): void;
  destroy(): void;
}

type Kind = "y-websocket" | "hocuspocus";

async function openClient(kind: Kind, docsUrl: string, name: string, label: string): Promise<Client> {
  const opened =
    kind === "y-websocket"
      ? await openEditor(docsUrl, name).then((e) => ({
          ...e,
          setUser: (n: string) => e.provider.awareness.setLocalStateField("user", { name: n }),
        }))
      : await openHocuspocus(docsUrl, name).then((e) => ({
          ...e,
          setUser: (n: string) => e.provider.setAwarenessField("user", { name: n }),
        }));
  const awareness = opened.provider.awareness as Awareness;
  const removedBy = new Map<number, unknown>();
  awareness.on("change", ({ removed }: { removed: number[] }, origin: unknown) => {
    for (const id of removed) if (!removedBy.has(id)) removedBy.set(id, origin);
  });
  return {
    label,
    clientId: opened.doc.clientID,
    text: opened.text,
    awareness,
    removedBy,
    origin: opened.provider,
    setUser: opened.setUser,
    destroy: opened.destroy,
  };
}

const userOf = (c: Client, id: number) => (c.awareness.getStates().get(id) as { user?: { name: string } } | undefined)?.user?.name;

describe.each(targets)("documents on Node, Bun and Deno instances across %s", (_label, redisUrl) => {
  const fixtures: Fixture[] = [];
  const clients: Client[] = [];
  let prefix = "";
  const newPrefix = () => (prefix = `olstest:${process.pid}:docsrt:${Math.random().toString(36).slice(2, 8)}`);

  /** An instance under `runtime` (Deno mounted in a Hono app), documents in memory: nothing is ever stored. */
  const start = async (runtime: Runtime) => {
    const mode = runtime === "deno" ? "hono" : "standalone";
    const fixture = await startChild(runtime, mode, {
      redisPrefix: prefix,
      redisUrl,
      redisHeartbeatMs: 500,
      redisTtlMs: 2000,
      documents: {},
    });
    fixtures.push(fixture);
    return fixture;
  };
  /** Every instance started is in the registry (announced: its heartbeat is there for the others to check). */
  const announced = async (n: number) => {
    const port = new URL(redisUrl!.split(",")[0]!).port;
    const key = redisKeys(prefix).registry;
    await until(
      () => Number(spawnSync("redis-cli", ["-c", "-p", port, "scard", key], { encoding: "utf8" }).stdout.trim()) >= n,
      `${n} instances announced`,
      20_000,
    );
  };
  const open = async (kind: Kind, on: Fixture, name: string, label: string) => {
    const client = await openClient(kind, `${on.httpUrl.replace(/^http/, "ws")}/yjs`, name, label);
    clients.push(client);
    return client;
  };
  const seesAll = (all: Client[]) => all.every((c) => all.every((o) => userOf(c, o.clientId) === o.label));

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await Promise.allSettled(fixtures.splice(0).map((f) => f.kill!()));
  });

  const arrangements: [string, { ws: Runtime; hp: Runtime; late: Runtime; lateKind: Kind }][] = [
    [
      "y-websocket on Bun, Hocuspocus on Deno, a late Hocuspocus joiner on Node",
      { ws: "bun", hp: "deno", late: "node", lateKind: "hocuspocus" },
    ],
    [
      "y-websocket on Node, Hocuspocus on Bun, a late y-websocket joiner on Deno",
      { ws: "node", hp: "bun", late: "deno", lateKind: "y-websocket" },
    ],
  ];

  it.skipIf(!redisUrl).each(arrangements)(
    "converges two providers and a Hocuspocus provider, then a late joiner, and awareness reaches all: %s",
    async (_arrangement, { ws, hp, late, lateKind }) => {
      newPrefix();
      const [onWs, onHp, onLate] = await Promise.all([start(ws), start(hp), start(late)]);
      await announced(3);
      const name = docName();
      const y1 = await open("y-websocket", onWs, name, "y1");
      const y2 = await open("y-websocket", onWs, name, "y2");
      const h = await open("hocuspocus", onHp, name, "h");
      y1.text.insert(0, "one ");
      y2.text.insert(0, "two ");
      h.text.insert(0, "three ");
      const typed = [y1, y2, h];
      await until(() => typed.every((c) => c.text.length === 14 && c.text.toString() === y1.text.toString()), "the three to converge");
      // Documents are in memory per process: what the late joiner gets can only come from the holders.
      const l = await open(lateKind, onLate, name, "late");
      await until(() => l.text.toString() === y1.text.toString(), "the late joiner to get the whole text");
      l.text.insert(l.text.length, "late");
      const all = [...typed, l];
      await until(
        () => all.every((c) => c.text.toString() === l.text.toString() && c.text.length === 18),
        "the late joiner's edit everywhere",
      );
      for (const c of all) c.setUser(c.label);
      await until(() => seesAll(all), "every client to see every other's awareness");
    },
    90_000,
  );

  // The first two instances are killed in turn. The third loads the document after the first two's clients
  // set their awareness, so it learns of them from the holders' answers, not from live messages.
  const kills: [string, [Runtime, Kind][]][] = [
    [
      "Deno, then Bun",
      [
        ["deno", "y-websocket"],
        ["bun", "hocuspocus"],
        ["node", "y-websocket"],
      ],
    ],
    [
      "Bun, then Node",
      [
        ["bun", "y-websocket"],
        ["node", "hocuspocus"],
        ["deno", "hocuspocus"],
      ],
    ],
  ];

  it.skipIf(!redisUrl).each(kills)(
    "removes a SIGKILLed instance's awareness from the others' clients when the backplane finds it dead: %s",
    async (_order, instances) => {
      newPrefix();
      const started = await Promise.all(instances.map(([runtime]) => start(runtime)));
      await announced(3);
      const name = docName();
      const on: Client[] = [];
      for (const [i, [runtime, kind]] of instances.entries()) {
        const c = await open(kind, started[i]!, name, runtime);
        c.setUser(c.label);
        on.push(c);
        await until(() => seesAll(on), `the first ${on.length} clients to see each other's awareness`);
      }
      const alive = new Set(on);
      for (const i of [0, 1]) {
        const victim = on[i]!;
        await started[i]!.kill!();
        alive.delete(victim);
        victim.destroy();
        const watchers = [...alive];
        await until(() => watchers.every((c) => c.removedBy.has(victim.clientId)), `${victim.label}'s awareness removed`, 45_000);
        for (const c of watchers) {
          // Sent by the server (the provider applied it), not the client's own 30 s outdated "timeout".
          const origin = c.removedBy.get(victim.clientId);
          expect(origin === c.origin ? "the server" : origin, `how ${c.label} learned of ${victim.label}'s death`).toBe("the server");
          for (const other of watchers) expect(userOf(c, other.clientId)).toBe(other.label);
        }
      }
    },
    120_000,
  );

  it.skipIf(!redisUrl)(
    "removes a cleanly stopped (SIGTERM) Deno instance's awareness from a Bun instance's client as its clients disconnect",
    async () => {
      newPrefix();
      const [bun, deno] = await Promise.all([start("bun"), start("deno")]);
      await announced(2);
      const name = docName();
      const watcher = await open("y-websocket", bun, name, "bun");
      const leaving = await open("hocuspocus", deno, name, "deno");
      for (const c of [watcher, leaving]) c.setUser(c.label);
      await until(() => seesAll([watcher, leaving]), "both clients to see each other's awareness");
      await deno.stop();
      await until(() => watcher.removedBy.has(leaving.clientId), "deno's client's awareness removed", 45_000);
      const origin = watcher.removedBy.get(leaving.clientId);
      expect(origin === watcher.origin ? "the server" : origin).toBe("the server");
    },
    90_000,
  );
});
