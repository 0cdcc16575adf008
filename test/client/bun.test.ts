import { clientSuite } from "../suites/client.suite.ts";

clientSuite("bun");
