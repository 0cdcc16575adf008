import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import { documentsProtocolSuite } from "../suites/documents-protocol.suite.ts";

documentsProtocolSuite("Node (in process)", startNodeInProcess);
