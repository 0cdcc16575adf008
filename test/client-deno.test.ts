import { clientSuite } from "./client.suite.ts";

clientSuite("deno");
