import { startChildFixture } from "../fixtures/child.ts";
import { honoMountSuite } from "../suites/hono-mount.suite.ts";
import { sqliteRestartSuite } from "../suites/sqlite-restart.suite.ts";
import { wireProtocolSuite } from "../suites/wire-protocol.suite.ts";

wireProtocolSuite("Node (child process)", startChildFixture("node"));
wireProtocolSuite("Node (child process), mounted in a Hono app", startChildFixture("node", "hono"));
honoMountSuite("Node (child process)", startChildFixture("node", "hono"));
sqliteRestartSuite("Node (child process)", startChildFixture("node"));
