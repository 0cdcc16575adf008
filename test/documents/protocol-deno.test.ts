import { startChildFixture } from "../fixtures/child.ts";
import { documentsProtocolSuite } from "../suites/documents-protocol.suite.ts";

documentsProtocolSuite("Deno", startChildFixture("deno"));
documentsProtocolSuite("Deno, mounted in a Hono app", startChildFixture("deno", "hono"));
