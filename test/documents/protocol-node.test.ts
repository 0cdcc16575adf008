import { startChildFixture } from "../fixtures/child.ts";
import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import { documentsProtocolSuite } from "../suites/documents-protocol.suite.ts";

documentsProtocolSuite("Node (in process)", startNodeInProcess);
documentsProtocolSuite("Node, mounted in a Hono app", startChildFixture("node", "hono"));
