import { createInMemoryDocumentStorage } from "../../src/storage/document-storage.ts";
import { documentStorageContract } from "../suites/document-storage.contract.ts";

documentStorageContract("memory", { make: async () => createInMemoryDocumentStorage(), shared: false });
