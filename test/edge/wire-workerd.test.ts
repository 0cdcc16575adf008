import { beforeAll } from "vitest";
import { prepareWorkerd, startWorkerd } from "../helpers/workerd.ts";
import { wireProtocolSuite } from "../suites/wire-protocol.suite.ts";

// Bundling the Worker takes a while on a busy machine: not inside the first test's timeout.
beforeAll(() => prepareWorkerd(), 180_000);

// Plain `ws://…/live`: the Worker relays each socket to the object of the room it joins.
wireProtocolSuite("Cloudflare (workerd)", (options) => startWorkerd(options), { edge: true });
