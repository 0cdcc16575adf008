import { startWorkerd } from "../helpers/workerd.ts";
import { wireProtocolSuite } from "../suites/wire-protocol.suite.ts";

// Plain `ws://…/live`: the Worker relays each socket to the object of the room it joins.
wireProtocolSuite("Cloudflare (workerd)", (options) => startWorkerd(options), { edge: true });
