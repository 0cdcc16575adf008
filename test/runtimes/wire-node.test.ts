import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import { wireProtocolSuite } from "../suites/wire-protocol.suite.ts";

wireProtocolSuite("Node (in process)", startNodeInProcess);
