/**
 * Documents outlive the server: a restart with SQLite or Postgres keeps the text. A SIGKILL during typing,
 * on every runtime and SQL store: crash-stores.test.ts.
 */
import { mkdtempSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, describe, it } from "vitest";
import { createServer } from "../../adapters/node/index.ts";
import type { DocumentStorage } from "../../src/storage/document-storage.ts";
import { createPostgresDocumentStorage, createSQLiteDocumentStorage } from "../../src/storage/sql-document-stores.ts";
import { openEditor, until } from "../helpers/documents.ts";
import { DATABASE_URL, probe } from "../helpers/services.ts";

const dir = mkdtempSync(join(tmpdir(), "ols-docs-persist-"));
const unique = (prefix: string) => `${prefix}${Math.random().toString(36).slice(2, 10)}`;

/** Run a Node server with `storage`, let `use` work against its document URL, then close it. */
async function withServer(storage: DocumentStorage, use: (docsUrl: string) => Promise<void>): Promise<void> {
  const server = createServer({ port: 0, hostname: "127.0.0.1", documents: { storage, writeWindowMs: 50 } });
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  try {
    await use(`ws://127.0.0.1:${port}/yjs`);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function restartKeepsText(makeStorage: () => Promise<DocumentStorage>) {
  const name = unique("notes-");
  await withServer(await makeStorage(), async (url) => {
    const editor = await openEditor(url, name);
    editor.text.insert(0, "survives a restart");
    editor.text.delete(0, 0);
    await new Promise((r) => setTimeout(r, 100));
    editor.destroy();
  });
  await withServer(await makeStorage(), async (url) => {
    const editor = await openEditor(url, name);
    await until(() => editor.text.toString() === "survives a restart", "the text after the restart");
    editor.destroy();
  });
}

describe("documents across restarts", () => {
  it("keeps the text through a restart with SQLite", async () => {
    const file = join(dir, "restart.db");
    await restartKeepsText(async () => createSQLiteDocumentStorage(file));
  });

  const table = unique("ols_docs_restart_");
  afterAll(async () => {
    if (await probe(DATABASE_URL)) return;
    const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} });
    await sql.unsafe(`drop table if exists "${table}"`);
    await sql.end();
  });
  it("keeps the text through a restart with Postgres", async (context) => {
    if (await probe(DATABASE_URL)) return context.skip();
    await restartKeepsText(() => createPostgresDocumentStorage(DATABASE_URL, { tableName: table }));
  });
});
