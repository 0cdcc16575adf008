/**
 * The documents table in each dialect, the single source of its DDL (rendered by ddl.ts). One row is one
 * stored Yjs update: a snapshot or a write window's merged updates. `writer` names the server process that
 * wrote it, so a snapshot deletes only rows it is known to contain (see DocumentStorage.compact).
 */
import {
  getTableConfig as mysqlConfig,
  bigint as mysqlBigint,
  customType as mysqlCustom,
  index as mysqlIndex,
  mysqlTable,
  varchar,
} from "drizzle-orm/mysql-core";
import {
  bigint as pgBigint,
  bigserial,
  customType as pgCustom,
  getTableConfig as pgConfig,
  index as pgIndex,
  pgTable,
  text as pgText,
} from "drizzle-orm/pg-core";
import {
  customType as sqliteCustom,
  getTableConfig as sqliteConfig,
  index as sqliteIndex,
  integer,
  sqliteTable,
  text as sqliteText,
} from "drizzle-orm/sqlite-core";
import { tableDdl } from "./ddl.ts";
import { validateTableName } from "./table-name.ts";

/** The table name used when none is given. */
export const DEFAULT_DOCUMENT_TABLE = "openlivesync_documents";

/** Bytes in, bytes out, as a plain Uint8Array whatever the driver returns (Buffer on Node). */
const bytes = (value: unknown): Uint8Array =>
  value instanceof Uint8Array ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value as ArrayBuffer);

const sqliteBlob = sqliteCustom<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => "blob", fromDriver: bytes });
const pgBytea = pgCustom<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => "bytea", fromDriver: bytes });
const mysqlBlob = mysqlCustom<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => "longblob", fromDriver: bytes });

const nameIndex = (table: string) => `${table}_name_seq`;

export function sqliteDocumentTable(tableName = DEFAULT_DOCUMENT_TABLE) {
  const name = validateTableName(tableName);
  return sqliteTable(
    name,
    {
      name: sqliteText("name").notNull(),
      id: sqliteText("id").notNull(),
      writer: sqliteText("writer").notNull(),
      data: sqliteBlob("data").notNull(),
      createdAt: integer("created_at").notNull(),
      seq: integer("seq").primaryKey({ autoIncrement: true }),
    },
    (t) => [sqliteIndex(nameIndex(name)).on(t.name, t.seq)],
  );
}

export function pgDocumentTable(tableName = DEFAULT_DOCUMENT_TABLE) {
  const name = validateTableName(tableName);
  return pgTable(
    name,
    {
      name: pgText("name").notNull(),
      id: pgText("id").notNull(),
      writer: pgText("writer").notNull(),
      data: pgBytea("data").notNull(),
      createdAt: pgBigint("created_at", { mode: "number" }).notNull(),
      seq: bigserial("seq", { mode: "number" }).primaryKey(),
    },
    (t) => [pgIndex(nameIndex(name)).on(t.name, t.seq)],
  );
}

export function mysqlDocumentTable(tableName = DEFAULT_DOCUMENT_TABLE) {
  const name = validateTableName(tableName);
  return mysqlTable(
    name,
    {
      name: varchar("name", { length: 255 }).notNull(),
      id: varchar("id", { length: 36 }).notNull(),
      writer: varchar("writer", { length: 36 }).notNull(),
      data: mysqlBlob("data").notNull(),
      createdAt: mysqlBigint("created_at", { mode: "number" }).notNull(),
      seq: mysqlBigint("seq", { mode: "number", unsigned: true }).autoincrement().primaryKey(),
    },
    (t) => [mysqlIndex(nameIndex(name)).on(t.name, t.seq)],
  );
}

export const documentTableDdl = {
  sqlite: (table: ReturnType<typeof sqliteDocumentTable>) => tableDdl("sqlite", sqliteConfig(table)),
  pg: (table: ReturnType<typeof pgDocumentTable>) => tableDdl("pg", pgConfig(table)),
  mysql: (table: ReturnType<typeof mysqlDocumentTable>) => tableDdl("mysql", mysqlConfig(table)),
};
