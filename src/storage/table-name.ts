import { ConfigError } from "../errors.ts";

/** The table name used when none is given. */
export const DEFAULT_TABLE_NAME = "openlivesync_chat";

/**
 * Letters, digits and `_`, starting with a letter or `_`, at most 48 characters. The cap leaves room for
 * the index name (`<table>_room_seq`) inside MySQL's and Postgres's 64/63-character identifier limits.
 */
const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;

/**
 * Check a table name before it reaches any SQL. The name is always quoted as well; this check is what
 * keeps schema prefixes, quotes and statement separators out.
 */
export function validateTableName(name: unknown = DEFAULT_TABLE_NAME): string {
  if (typeof name === "string" && TABLE_NAME.test(name)) return name;
  const shown = typeof name === "string" ? JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name) : typeof name;
  throw new ConfigError(
    `Invalid chat table name ${shown}: use 1-48 letters, digits or underscores, starting with a letter or underscore (e.g. "openlivesync_chat").`,
  );
}

/** The index on (room id, sequence) that serves every history query. */
export function roomSeqIndexName(tableName: string): string {
  return `${tableName}_room_seq`;
}

/** The unique index on the exactly-once key (room, sender, clientMessageId; hashed). */
export function clientKeyIndexName(tableName: string): string {
  return `${tableName}_client_key`;
}

/** The index on message id that finds where `before`/`after` paging starts. */
export function idIndexName(tableName: string): string {
  return `${tableName}_id`;
}
