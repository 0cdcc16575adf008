import { execFileSync } from "node:child_process";
import { expect, it } from "vitest";
import { startChildFixture } from "../fixtures/child.ts";
import { honoMountSuite } from "../suites/hono-mount.suite.ts";
import { sqliteRestartSuite } from "../suites/sqlite-restart.suite.ts";
import { wireProtocolSuite } from "../suites/wire-protocol.suite.ts";

wireProtocolSuite("Bun", startChildFixture("bun"));
wireProtocolSuite("Bun, mounted in a Hono app", startChildFixture("bun", "hono"));
honoMountSuite("Bun", startChildFixture("bun", "hono"));
sqliteRestartSuite("Bun", startChildFixture("bun"));

it("fans room frames out through Bun's native publish, with no JavaScript send per member", () => {
  const out = execFileSync("node_modules/.bin/bun", ["test/fixtures/bun-native-publish.ts"], { encoding: "utf8", timeout: 20_000 });
  const result = JSON.parse(out.trim().split("\n").at(-1)!);
  expect(result).toEqual({ members: 20, jsSends: 0, received: { broadcast_event: 19, chat_message: 20 } });
});

it("keeps peer.context and peer.subscribe/publish working on Bun peers after open", () => {
  const out = execFileSync("node_modules/.bin/bun", ["test/fixtures/bun-peer-api.ts"], { encoding: "utf8", timeout: 20_000 });
  const result = JSON.parse(out.trim().split("\n").at(-1)!);
  expect(result).toEqual({
    contexts: ["alice", "bob"],
    contextKept: true,
    topics: [[], ["news"], []],
    received: "hello from alice",
  });
});
