import postgres from "postgres";
import { createPostgresDocumentStorage } from "../../src/storage/sql-document-stores.ts";
import { DATABASE_URL, describeWithService } from "../helpers/services.ts";
import { documentStorageContract } from "../suites/document-storage.contract.ts";

await describeWithService("Postgres", DATABASE_URL, "DATABASE_URL", () =>
  documentStorageContract("Postgres", {
    make: (tableName) => createPostgresDocumentStorage(DATABASE_URL, { tableName }),
    shared: true,
    async dropTable(tableName) {
      const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
      await sql.unsafe(`drop table if exists "${tableName}"`);
      await sql.end();
    },
  }),
);
