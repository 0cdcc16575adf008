import { startChildFixture } from "../fixtures/child.ts";
import { honoMountSuite } from "../suites/hono-mount.suite.ts";
import { sqliteRestartSuite } from "../suites/sqlite-restart.suite.ts";
import { wireProtocolSuite, type RuntimeDifferences } from "../suites/wire-protocol.suite.ts";

// Deno's idle timeout is the heartbeat there (crossws cannot ping on Deno); it closes with 1001.
const deno: RuntimeDifferences = { heartbeatCloseCode: 1001, closeWhileSendingCode: 1006 };

wireProtocolSuite("Deno", startChildFixture("deno"), deno);
wireProtocolSuite("Deno, mounted in a Hono app", startChildFixture("deno", "hono"), deno);
honoMountSuite("Deno", startChildFixture("deno", "hono"));
sqliteRestartSuite("Deno", startChildFixture("deno"));
