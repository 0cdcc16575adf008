import { startChildFixture } from "../fixtures/child.ts";
import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import { httpApiSuite } from "../suites/http-api.suite.ts";

httpApiSuite("Node (createServer)", startNodeInProcess);
httpApiSuite("Node, mounted in a Hono app", startChildFixture("node", "hono"), true);
