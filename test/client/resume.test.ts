/**
 * Chat resume, exactly-once sends and history paging: the client against the server's chat protocol
 * (`join_room.lastMessageId` → `room_joined.resumed`, `send_chat.clientMessageId`, `get_chat_history`).
 * These need the server side of the chat issue; a server without it fails them (see each test).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { launchChromium } from "../helpers/chromium.ts";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { TestClient } from "../helpers/client.ts";
import { disconnectAll, liveClient, messagesOf, until } from "../helpers/live-clients.ts";
import { startRestartable, type RestartableServer } from "../helpers/restartable.ts";

const dir = mkdtempSync(join(tmpdir(), "ols-resume-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => disconnectAll());
let dbCount = 0;
const sqliteFile = () => join(dir, `chat-${++dbCount}.db`);

/**
 * A TCP proxy in front of the server for one client: `hold()` keeps what the server sends from reaching
 * the client (the client's frames still reach the server); `cut()` drops every connection and refuses new ones.
 */
async function proxyTo(port: number) {
  const pairs = new Set<[Socket, Socket]>();
  let holding = false;
  let down = false;
  const server: Server = createServer((client) => {
    if (down) return client.destroy();
    const upstream = connect(port, "127.0.0.1");
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => !holding && client.write(d));
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${address.port}/live`,
    hold: () => (holding = true),
    cut() {
      down = true;
      holding = false;
      for (const [a, b] of pairs) a.destroy(), b.destroy();
    },
    restore: () => (down = false),
    close() {
      // server.close() waits for open connections: end the proxied ones first.
      for (const [a, b] of pairs) a.destroy(), b.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("chat resume and exactly-once sends", () => {
  let server: RestartableServer | undefined;
  afterEach(async () => {
    disconnectAll();
    await server?.kill();
  });

  // Fails on a server without resume: its newest-2 history no longer reaches m3, so the client marks a gap and misses m4–m6.
  it("resumes chat from the last message it has after the server restarts, with no gap", async () => {
    server = await startRestartable("node", { sqliteFile: sqliteFile(), historyLimit: 2 });
    const proxy = await proxyTo(server.port);
    const a = liveClient(proxy.url);
    const b = liveClient(server.wsUrl);
    for (const c of [a, b]) {
      c.connect();
      c.joinRoom("resume");
    }
    await until(a, (s) => s.inRoom);
    await until(b, (s) => s.inRoom);
    for (const m of ["m1", "m2", "m3"]) b.sendChat(m);
    await until(a, (s) => messagesOf(s).length === 3);

    proxy.cut(); // A is offline through the restart and while B talks
    await until(a, (s) => !s.inRoom);
    await server.restart();
    await until(b, (s) => s.inRoom && s.status === "open");
    for (const m of ["m4", "m5", "m6", "m7", "m8"]) b.sendChat(m);
    await until(b, (s) => s.pendingMessages.length === 0 && messagesOf(s).length === 8);
    proxy.restore();

    const back = await until(a, (s) => s.inRoom && messagesOf(s).includes("m8"), "A back with m8");
    expect(messagesOf(back)).toEqual(["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"]);
    expect(back.chatGaps).toEqual([]);
    await proxy.close();
  });

  it("marks a gap when the server could not resume (its history is gone)", async () => {
    server = await startRestartable("node", {});
    const a = liveClient(server.wsUrl);
    a.connect();
    a.joinRoom("lost");
    await until(a, (s) => s.inRoom);
    a.sendChat("before");
    const before = await until(a, (s) => s.pendingMessages.length === 0 && messagesOf(s).length === 1);
    await server.restart(); // memory storage: the history is gone
    const back = await until(a, (s) => s.inRoom && s.chatGaps.length === 1, "a gap");
    expect(back.chatGaps).toEqual([before.chatMessages[0]!.id]);
    expect(messagesOf(back)).toEqual(["before"]);
  });

  // Fails on a server without clientMessageId: the resent messages are stored a second time.
  it("delivers a send in flight during a kill exactly once, after the restart", async () => {
    server = await startRestartable("node", { sqliteFile: sqliteFile() });
    const proxy = await proxyTo(server.port);
    const a = liveClient(proxy.url);
    const b = liveClient(server.wsUrl);
    for (const c of [a, b]) {
      c.connect();
      c.joinRoom("once");
    }
    await until(a, (s) => s.inRoom);
    await until(b, (s) => s.inRoom);
    a.sendChat("acknowledged");
    await until(a, (s) => s.pendingMessages.length === 0);

    // The server stores these and acknowledges them, but A never hears back before the kill.
    proxy.hold();
    const sent = ["in flight 1", "in flight 2", "in flight 3"];
    for (const m of sent) a.sendChat(m);
    await until(b, (s) => sent.every((m) => messagesOf(s).includes(m)), "B has them: they were stored");
    expect(a.getState().pendingMessages.map((p) => p.message)).toEqual(sent);
    await server.kill();
    proxy.cut();
    await until(a, (s) => !s.inRoom);
    proxy.restore();
    await server.restart();

    const done = await until(
      a,
      (s) => s.inRoom && s.pendingMessages.length === 0 && sent.every((m) => messagesOf(s).includes(m)),
      "A acknowledged",
    );
    const all = ["acknowledged", ...sent];
    expect(messagesOf(done)).toEqual(all);
    const fresh = new TestClient(server.wsUrl);
    expect((await fresh.join("once")).chatHistory.map((m: { message: string }) => m.message)).toEqual(all);
    fresh.terminate();
    const seenByB = await until(b, (s) => s.inRoom);
    expect(messagesOf(seenByB).filter((m) => sent.includes(m))).toEqual(sent);
    await proxy.close();
  });

  // Fails on a server without get_chat_history: it answers UNKNOWN_TYPE.
  it("loadOlderMessages pages back through the whole history", async () => {
    server = await startRestartable("node", { sqliteFile: sqliteFile(), historyLimit: 3 });
    const writer = liveClient(server.wsUrl);
    writer.connect();
    writer.joinRoom("paging");
    await until(writer, (s) => s.inRoom);
    const all = Array.from({ length: 10 }, (_, i) => `m${i + 1}`);
    for (const m of all) writer.sendChat(m);
    await until(writer, (s) => s.pendingMessages.length === 0 && messagesOf(s).length === 10);

    const reader = liveClient(server.wsUrl, { historyPageSize: 3 });
    reader.connect();
    reader.joinRoom("paging");
    const joined = await until(reader, (s) => s.inRoom);
    expect(messagesOf(joined)).toEqual(["m8", "m9", "m10"]);
    expect(joined.hasMoreHistory).toBe(true);
    const pages: string[][] = [];
    while (reader.getState().hasMoreHistory) pages.push((await reader.loadOlderMessages()).map((m) => m.message));
    expect(pages).toEqual([["m5", "m6", "m7"], ["m2", "m3", "m4"], ["m1"]]);
    expect(messagesOf(reader.getState())).toEqual(all);
  });
});

// Fails on a server without get_chat_history: the page shows "Could not load older messages".
describe.skipIf(!existsSync("/usr/bin/chromium"))("the demo's Load older", () => {
  it("loads the messages before the joiner's history page", async () => {
    const cli = spawn(process.execPath, [join(import.meta.dirname, "..", "..", "dist", "cli.js"), "--port", "0", "--history-limit", "3"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const context = await launchChromium(join(dir, "profile"));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = "";
        cli.stdout!.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const m = /Demo: http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        cli.once("exit", (code) => reject(new Error(`CLI exited (${code}): ${out}`)));
      });
      const writer = liveClient(`ws://127.0.0.1:${port}/live`);
      writer.connect();
      writer.joinRoom("older", {}, { name: "Writer" });
      for (let i = 1; i <= 8; i++) writer.sendChat(`old ${i}`);
      await until(writer, (s) => s.inRoom && s.pendingMessages.length === 0 && messagesOf(s).length === 8);

      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${port}/demo?room=older&name=Reader`);
      const count = () => page.locator("#messages li.msg").count();
      await page.waitForFunction(() => document.querySelectorAll("#messages li.msg").length === 3, undefined, { timeout: 20_000 });
      await page.click("#load-older");
      await page.waitForFunction(
        () => document.querySelectorAll("#messages li.msg").length === 8 || document.querySelector("#note")?.textContent,
        undefined,
        { timeout: 20_000 },
      );
      expect(await page.locator("#note").textContent()).toBe("");
      expect(await count()).toBe(8);
      expect(await page.locator("#messages li.msg").first().textContent()).toContain("old 1");
      expect(await page.locator("#load-older").isHidden()).toBe(true);
    } finally {
      await context.close();
      cli.kill("SIGKILL");
    }
  }, 60_000);
});
