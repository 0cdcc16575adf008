import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../helpers/sqlite-driver.ts";
import { createSQLiteDocumentStorage } from "../../src/storage/sql-document-stores.ts";
import { documentStorageContract } from "../suites/document-storage.contract.ts";

const file = join(mkdtempSync(join(tmpdir(), "ols-docs-")), "docs.db");
documentStorageContract("SQLite", { make: async (tableName) => createSQLiteDocumentStorage(file, { tableName }), shared: true });
