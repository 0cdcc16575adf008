import { startChildFixture } from "../fixtures/child.ts";
import { httpApiSuite } from "../suites/http-api.suite.ts";

httpApiSuite("Bun (createServer)", startChildFixture("bun"));
httpApiSuite("Bun, mounted in a Hono app", startChildFixture("bun", "hono"), true);
httpApiSuite("Deno (createServer)", startChildFixture("deno"));
httpApiSuite("Deno, mounted in a Hono app", startChildFixture("deno", "hono"), true);
