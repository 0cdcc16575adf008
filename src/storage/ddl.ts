/**
 * CREATE statements rendered from a Drizzle table, so each dialect's schema file stays the single
 * definition of the table. drizzle-orm has no runtime DDL (that is drizzle-kit's job), and three columns'
 * worth of dialect differences do not justify a migration tool.
 */

/** What we read from a Drizzle column (`getTableConfig(table).columns[i]`). */
export interface DdlColumn {
  name: string;
  notNull: boolean;
  primary: boolean;
  getSQLType(): string;
  autoIncrement?: boolean;
}

/** What we read from a Drizzle index (`getTableConfig(table).indexes[i]`). */
export interface DdlIndex {
  config: { name?: string; unique?: boolean; columns: ReadonlyArray<unknown> };
}

export interface DdlTable {
  name: string;
  columns: readonly DdlColumn[];
  indexes: readonly DdlIndex[];
}

export type Dialect = "pg" | "mysql" | "sqlite";

const quote = (dialect: Dialect, id: string) => (dialect === "mysql" ? `\`${id}\`` : `"${id}"`);

function indexColumns(dialect: Dialect, index: DdlIndex): string {
  return index.config.columns.map((c) => quote(dialect, (c as { name: string }).name)).join(", ");
}

/**
 * `CREATE TABLE IF NOT EXISTS` plus its indexes, each statement idempotent. MySQL gets the index inside
 * CREATE TABLE (MySQL 8 has no `CREATE INDEX IF NOT EXISTS`), with a binary utf8mb4 collation so room ids
 * compare byte for byte, as they do in Postgres and SQLite.
 */
export function createTableStatements(dialect: Dialect, table: DdlTable): string[] {
  const q = (id: string) => quote(dialect, id);
  const parts = table.columns.map((c) => {
    let def = `${q(c.name)} ${c.getSQLType()}`;
    if (c.notNull && !c.primary) def += " not null";
    // MySQL wants AUTO_INCREMENT before PRIMARY KEY, SQLite wants AUTOINCREMENT after it.
    if (c.autoIncrement && dialect === "mysql") def += " auto_increment";
    if (c.primary) def += " primary key";
    if (c.autoIncrement && dialect === "sqlite") def += " autoincrement";
    return def;
  });
  if (dialect === "mysql") {
    for (const index of table.indexes) {
      parts.push(`${index.config.unique ? "unique " : ""}index ${q(index.config.name ?? "")} (${indexColumns(dialect, index)})`);
    }
    return [
      `create table if not exists ${q(table.name)} (\n  ${parts.join(",\n  ")}\n) engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin`,
    ];
  }
  return [
    `create table if not exists ${q(table.name)} (\n  ${parts.join(",\n  ")}\n)`,
    ...table.indexes.map(
      (index) =>
        `create ${index.config.unique ? "unique " : ""}index if not exists ${q(index.config.name ?? "")} on ${q(table.name)} (${indexColumns(dialect, index)})`,
    ),
  ];
}
