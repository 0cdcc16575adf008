/**
 * Chat history in a SQLite file survives a server restart, on whichever runtime runs the fixture
 * (better-sqlite3 on Node, bun:sqlite on Bun, node:sqlite on Deno).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TestClient } from "../helpers/client.ts";
import type { Fixture, StartFixture } from "./wire-protocol.suite.ts";

export function sqliteRestartSuite(runtime: string, start: StartFixture) {
  describe(`SQLite chat storage on ${runtime}`, () => {
    const dir = mkdtempSync(join(tmpdir(), "ols-sqlite-restart-"));
    const fixtures: Fixture[] = [];
    const clients: TestClient[] = [];
    afterAll(async () => {
      for (const c of clients) c.terminate();
      for (const f of fixtures) await f.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const client = (fixture: Fixture) => {
      const c = new TestClient(fixture.wsUrl);
      clients.push(c);
      return c;
    };

    it("keeps chat history across a restart on the same file", async () => {
      const sqliteFile = join(dir, "chat.db");
      const first = await start({ sqliteFile });
      fixtures.push(first);
      const a = client(first);
      await a.join("persisted");
      for (const message of ["one", "two", "three"]) a.send("send_chat", { message, metadata: { n: message.length } });
      await a.until((all) => all.filter((m) => m.type === "chat_message").length === 3);
      const sent = a.all("chat_message").map((m) => m.payload);
      await first.stop();

      const second = await start({ sqliteFile });
      fixtures.push(second);
      const b = client(second);
      const joined = await b.join("persisted");
      expect(joined.chatHistory.map((m: any) => m.message)).toEqual(["one", "two", "three"]);
      expect(joined.chatHistory).toEqual(
        // History comes from storage: a live frame's stream offset is not part of a stored message.
        sent.map(({ roomId: _roomId, provider: _provider, email: _email, offset: _offset, ...rest }) => expect.objectContaining(rest)),
      );
    });
  });
}
