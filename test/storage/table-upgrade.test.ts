import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPool } from "mysql2/promise";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { createMySQLChatStorage } from "../../src/storage/mysql.ts";
import { createPostgresChatStorage } from "../../src/storage/postgres.ts";
import { createSQLiteChatStorage } from "../../src/storage/sqlite.ts";
import { openSqliteDatabase } from "../../src/storage/sqlite-driver.ts";
import type { ChatStorage } from "../../src/storage/chat-storage.ts";
import { DATABASE_URL, MYSQL_URL, describeWithService } from "../helpers/services.ts";
import "../helpers/sqlite-driver.ts";

// The DDL of the release before clientMessageId (commit 33e2eb6), copied as it ran: tables it made must
// be upgraded in place when the new storage starts.
const OLD_DDL = {
  pg: (t: string) => [
    `create table if not exists "${t}" (\n  "id" text not null,\n  "room_id" text not null,\n  "connection_id" text not null,\n  "user_id" text,\n  "name" text,\n  "message" text not null,\n  "metadata" json,\n  "created_at" bigint not null,\n  "seq" bigserial primary key\n)`,
    `create index if not exists "${t}_room_seq" on "${t}" ("room_id", "seq")`,
  ],
  mysql: (t: string) => [
    `create table if not exists \`${t}\` (\n  \`id\` varchar(255) not null,\n  \`room_id\` varbinary(2048) not null,\n  \`connection_id\` varchar(255) not null,\n  \`user_id\` text,\n  \`name\` text,\n  \`message\` mediumtext not null,\n  \`metadata\` json,\n  \`created_at\` bigint not null,\n  \`seq\` bigint unsigned auto_increment primary key,\n  index \`${t}_room_seq\` (\`room_id\`, \`seq\`)\n) engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin`,
  ],
  sqlite: (t: string) => [
    `create table if not exists "${t}" (\n  "id" text not null,\n  "room_id" text not null,\n  "connection_id" text not null,\n  "user_id" text,\n  "name" text,\n  "message" text not null,\n  "metadata" text,\n  "created_at" integer not null,\n  "seq" integer primary key autoincrement\n)`,
    `create index if not exists "${t}_room_seq" on "${t}" ("room_id", "seq")`,
  ],
};

/** Rows as the old release wrote them: three rooms interleaved, createdAt tied in groups of four. */
const OLD_ROWS = Array.from({ length: 30 }, (_, i) => ({
  id: `old-${i}`,
  room: `room-${i % 3}`,
  message: `old ${i}`,
  createdAt: 1_700_000_000_000 + Math.floor(i / 12),
}));
const INSERT =
  "insert into T (id, room_id, connection_id, user_id, name, message, metadata, created_at) values (?, ?, 'c', null, null, ?, null, ?)";

interface Target {
  /** Run the old DDL and insert OLD_ROWS one by one (so `seq` follows their order). */
  fillOldTable(table: string): Promise<void>;
  open(table: string): Promise<ChatStorage>;
  columns(table: string): Promise<string[]>;
  drop(table: string): Promise<void>;
}

function upgradeSuite(name: string, target: Target): void {
  describe(`${name}: upgrading a table made by the previous release`, () => {
    const table = `ols_test_up_${Math.random().toString(36).slice(2, 8)}`;
    const open: ChatStorage[] = [];
    afterAll(async () => {
      for (const s of open) await s.close?.().catch(() => {});
      await target.drop(table);
    });

    it("adds the new columns and indexes in place when several servers start at once, and keeps every row in order", async () => {
      await target.fillOldTable(table);
      expect(await target.columns(table)).not.toContain("client_key");
      const storages = await Promise.all(Array.from({ length: 4 }, () => target.open(table)));
      open.push(...storages);
      expect(await target.columns(table)).toContain("client_key");
      const [storage] = storages as [ChatStorage];
      for (const room of ["room-0", "room-1", "room-2"]) {
        const expected = OLD_ROWS.filter((r) => r.room === room).map((r) => r.id);
        expect((await storage.getHistory(room, 100)).map((m) => m.id)).toStrictEqual(expected);
        const before = await storage.getHistoryBefore!(room, expected[5], 3);
        expect(before).toStrictEqual({ messages: await storage.getHistory(room, 3, 5), hasMore: true });
        expect((await storage.getHistoryAfter!(room, expected[7]!, 100))!.map((m) => m.id)).toStrictEqual(expected.slice(8));
      }
      // New messages follow the old ones, and exactly-once works on the upgraded table.
      const sent = { connectionId: "c", userId: "u", message: "new", clientMessageId: "after-upgrade" };
      const first = await storage.appendOnce!("room-0", sent);
      const again = await storages[3]!.appendOnce!("room-0", sent);
      expect(again).toStrictEqual({ message: first.message, duplicate: true });
      expect((await storage.getHistory("room-0", 1))[0]!.id).toBe(first.message.id);
      expect(await storage.getHistoryAfter!("room-0", "old-27", 10)).toStrictEqual([first.message]);
    });

    it("starts on the upgraded table again without changing it", async () => {
      const columns = await target.columns(table);
      const again = await target.open(table);
      open.push(again);
      expect(await target.columns(table)).toStrictEqual(columns);
      expect(await again.getHistory("room-1", 100)).toHaveLength(10);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), "ols-upgrade-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sqliteFile = join(dir, "chat.db");

upgradeSuite("SQLite", {
  async fillOldTable(table) {
    const { db } = openSqliteDatabase(sqliteFile);
    for (const statement of OLD_DDL.sqlite(table)) db.exec(statement);
    const insert = db.prepare(INSERT.replace("T", `"${table}"`));
    for (const r of OLD_ROWS) insert.run(r.id, r.room, r.message, r.createdAt);
    db.close();
  },
  open: async (table) => createSQLiteChatStorage(sqliteFile, { tableName: table }),
  async columns(table) {
    const { db } = openSqliteDatabase(sqliteFile);
    const names = (db.prepare("select name from pragma_table_info(?)").all(table) as Array<{ name: string }>).map((c) => c.name);
    db.close();
    return names;
  },
  async drop() {},
});

await describeWithService("Postgres", DATABASE_URL, "DATABASE_URL", () => {
  const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
  afterAll(() => sql.end());
  upgradeSuite("Postgres", {
    async fillOldTable(table) {
      for (const statement of OLD_DDL.pg(table)) await sql.unsafe(statement);
      let n = 0;
      const insert = INSERT.replace("T", `"${table}"`).replace(/\?/g, () => `$${++n}`);
      for (const r of OLD_ROWS) await sql.unsafe(insert, [r.id, r.room, r.message, r.createdAt]);
    },
    open: (table) => createPostgresChatStorage(DATABASE_URL, { tableName: table }),
    async columns(table) {
      const rows = await sql.unsafe(
        "select column_name from information_schema.columns where table_schema = current_schema() and table_name = $1 order by ordinal_position",
        [table],
      );
      return rows.map((r) => r.column_name as string);
    },
    async drop(table) {
      await sql.unsafe(`drop table if exists "${table}"`);
    },
  });
});

await describeWithService("MySQL", MYSQL_URL, "MYSQL_URL", () => {
  const pool = createPool({ uri: MYSQL_URL, connectionLimit: 1 });
  afterAll(() => pool.end());
  upgradeSuite("MySQL/MariaDB", {
    async fillOldTable(table) {
      for (const statement of OLD_DDL.mysql(table)) await pool.query(statement);
      for (const r of OLD_ROWS) await pool.query(INSERT.replace("T", `\`${table}\``), [r.id, r.room, r.message, r.createdAt]);
    },
    open: (table) => createMySQLChatStorage(MYSQL_URL, { tableName: table }),
    async columns(table) {
      const [rows] = await pool.query(
        "select column_name as c from information_schema.columns where table_schema = database() and table_name = ? order by ordinal_position",
        [table],
      );
      return (rows as Array<{ c: string }>).map((r) => r.c);
    },
    async drop(table) {
      await pool.query(`drop table if exists \`${table}\``);
    },
  });
});
