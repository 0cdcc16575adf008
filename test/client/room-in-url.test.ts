import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import { roomInUrlSuite } from "../suites/room-in-url.suite.ts";

roomInUrlSuite("Node", startNodeInProcess);
