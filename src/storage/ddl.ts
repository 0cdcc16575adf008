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

function columnDefinition(dialect: Dialect, c: DdlColumn): string {
  let def = `${quote(dialect, c.name)} ${c.getSQLType()}`;
  if (c.notNull && !c.primary) def += " not null";
  // MySQL wants AUTO_INCREMENT before PRIMARY KEY, SQLite wants AUTOINCREMENT after it.
  if (c.autoIncrement && dialect === "mysql") def += " auto_increment";
  if (c.primary) def += " primary key";
  if (c.autoIncrement && dialect === "sqlite") def += " autoincrement";
  return def;
}

/** What a table already has, read from the database's catalog before upgrading it. */
export interface ExistingTable {
  columns: ReadonlySet<string>;
  /** Index names; only MySQL needs them (Postgres and SQLite have `create index if not exists`). */
  indexes: ReadonlySet<string>;
}

/**
 * The statements that bring a table to the schema: `create` makes it when missing (on MySQL with its
 * indexes, in a binary utf8mb4 collation so room ids compare byte for byte, as in Postgres and SQLite);
 * `upgrade(existing)` then adds the columns and indexes a table made by an older release lacks. New
 * columns must be nullable, so existing rows stay valid; `seq` is never touched, so they keep their order.
 */
export function tableDdl(dialect: Dialect, table: DdlTable): { create: string; upgrade(existing: ExistingTable): string[] } {
  const q = (id: string) => quote(dialect, id);
  const indexDefinition = (index: DdlIndex) => `${index.config.unique ? "unique " : ""}index ${q(index.config.name ?? "")}`;
  const parts = table.columns.map((c) => columnDefinition(dialect, c));
  let create: string;
  if (dialect === "mysql") {
    for (const index of table.indexes) parts.push(`${indexDefinition(index)} (${indexColumns(dialect, index)})`);
    create = `create table if not exists ${q(table.name)} (\n  ${parts.join(",\n  ")}\n) engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin`;
  } else {
    create = `create table if not exists ${q(table.name)} (\n  ${parts.join(",\n  ")}\n)`;
  }
  return {
    create,
    upgrade(existing) {
      const statements: string[] = [];
      for (const column of table.columns) {
        if (existing.columns.has(column.name)) continue;
        if (column.notNull || column.primary) throw new Error(`Cannot add required column ${column.name} to an existing table.`);
        statements.push(`alter table ${q(table.name)} add column ${columnDefinition(dialect, column)}`);
      }
      for (const index of table.indexes) {
        if (dialect === "mysql") {
          if (!existing.indexes.has(index.config.name ?? "")) {
            statements.push(`alter table ${q(table.name)} add ${indexDefinition(index)} (${indexColumns(dialect, index)})`);
          }
        } else {
          statements.push(
            `create ${index.config.unique ? "unique " : ""}index if not exists ${q(index.config.name ?? "")} on ${q(table.name)} (${indexColumns(dialect, index)})`,
          );
        }
      }
      return statements;
    },
  };
}
