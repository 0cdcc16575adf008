import { clientSuite } from "./client.suite.ts";

clientSuite("bun");
