import { startChildFixture } from "../fixtures/child.ts";
import { documentsProtocolSuite } from "../suites/documents-protocol.suite.ts";

documentsProtocolSuite("Bun", startChildFixture("bun"));
documentsProtocolSuite("Bun, mounted in a Hono app", startChildFixture("bun", "hono"));
