import { startChildFixture } from "../fixtures/child.ts";
import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import { fuzzSuite } from "../suites/fuzz.suite.ts";

fuzzSuite("Node", startNodeInProcess);
fuzzSuite("Bun", startChildFixture("bun"));
fuzzSuite("Deno", startChildFixture("deno"));
