import { createPool } from "mysql2/promise";
import { createMySQLDocumentStorage } from "../../src/storage/sql-document-stores.ts";
import { MYSQL_URL, describeWithService } from "../helpers/services.ts";
import { documentStorageContract } from "../suites/document-storage.contract.ts";

await describeWithService("MySQL", MYSQL_URL, "MYSQL_URL", () =>
  documentStorageContract("MySQL/MariaDB", {
    make: (tableName) => createMySQLDocumentStorage(MYSQL_URL, { tableName }),
    shared: true,
    async dropTable(tableName) {
      const pool = createPool({ uri: MYSQL_URL, connectionLimit: 1 });
      await pool.query(`drop table if exists \`${tableName}\``);
      await pool.end();
    },
  }),
);
