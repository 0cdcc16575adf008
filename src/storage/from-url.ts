import type { ChatStorage } from "./chat-storage.ts";
import { createInMemoryChatStorage, SERVER_MESSAGES_PER_ROOM } from "./memory.ts";
import { ConfigError } from "../errors.ts";
import { createMySQLChatStorage } from "./mysql.ts";
import { createPostgresChatStorage } from "./postgres.ts";
import type { SqlChatStorageOptions } from "./sql-chat-storage.ts";
import { createSQLiteChatStorage } from "./sqlite.ts";
import { createInMemoryDocumentStorage, type DocumentStorage } from "./document-storage.ts";
import { createMySQLDocumentStorage, createPostgresDocumentStorage, createSQLiteDocumentStorage } from "./sql-document-stores.ts";
import type { SqlDocumentStorageOptions } from "./sql-document-storage.ts";

const FORMS = "memory, sqlite:./chat.db, sqlite::memory:, postgres://user:pass@host:5432/db or mysql://user:pass@host:3306/db";

/**
 * A storage from one URL, as the CLI's `--storage` / `STORAGE_URL` takes it:
 * `memory`, `sqlite:<path>` (or `sqlite::memory:`), `postgres://…` / `postgresql://…`, `mysql://…`.
 * SQL stores connect and create their table before this resolves, so an unreachable database fails here.
 * @example
 * const storage = await createChatStorageFromUrl(process.env.STORAGE_URL ?? "memory", { tableName: "chat" });
 */
export async function createChatStorageFromUrl(url: string, options: SqlChatStorageOptions = {}): Promise<ChatStorage> {
  const target = parseStorageUrl(url);
  switch (target.kind) {
    case "memory":
      return createInMemoryChatStorage({ historyLimit: Math.max(options.historyLimit ?? 100, SERVER_MESSAGES_PER_ROOM) });
    case "sqlite":
      return createSQLiteChatStorage(target.filename, options);
    case "mysql":
      return createMySQLChatStorage(target.url, options);
    case "postgres":
      return createPostgresChatStorage(target.url, options);
  }
}

/**
 * The document store at the same kind of URL as {@link createChatStorageFromUrl} takes (the CLI passes
 * `--storage` to both: documents go to the same database, in their own table).
 * @example
 * const storage = await createDocumentStorageFromUrl("sqlite:./data.db");
 */
export async function createDocumentStorageFromUrl(url: string, options: SqlDocumentStorageOptions = {}): Promise<DocumentStorage> {
  const target = parseStorageUrl(url);
  switch (target.kind) {
    case "memory":
      return createInMemoryDocumentStorage();
    case "sqlite":
      return createSQLiteDocumentStorage(target.filename, options);
    case "mysql":
      return createMySQLDocumentStorage(target.url, options);
    case "postgres":
      return createPostgresDocumentStorage(target.url, options);
  }
}

type StorageTarget = { kind: "memory" } | { kind: "sqlite"; filename: string } | { kind: "mysql" | "postgres"; url: string };

function parseStorageUrl(url: string): StorageTarget {
  const value = (url ?? "").trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1]?.toLowerCase();
  if (value === "" || value === "memory" || value === "memory:") return { kind: "memory" };
  if (scheme === "sqlite") {
    // sqlite:./chat.db, sqlite:/abs/chat.db, sqlite:///abs/chat.db, sqlite::memory:
    let filename = value.slice("sqlite:".length);
    if (filename.startsWith("//")) filename = filename.slice(2);
    if (filename === "") throw new ConfigError(`Storage URL "${value}" has no file: use sqlite:./chat.db or sqlite::memory:`);
    return { kind: "sqlite", filename };
  }
  if (scheme === "postgres" || scheme === "postgresql" || scheme === "mysql" || scheme === "mariadb") {
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch (cause) {
      throw new ConfigError(`Storage URL is not a valid URL: use ${FORMS}.`, { cause });
    }
    if (!parsed.hostname) throw new ConfigError(`Storage URL has no host: use ${FORMS}.`);
    if (scheme === "mysql" || scheme === "mariadb") {
      if (scheme === "mariadb") parsed.protocol = "mysql:";
      return { kind: "mysql", url: parsed.href };
    }
    return { kind: "postgres", url: value };
  }
  throw new ConfigError(`Unknown storage "${value.replace(/\/\/[^@/]*@/, "//…@")}": use ${FORMS}.`);
}
