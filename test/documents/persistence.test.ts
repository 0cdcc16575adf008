/**
 * Documents outlive the server: a restart with SQLite or Postgres keeps the text, and a SIGKILL during
 * typing loses at most the last write window and never leaves a document that does not load.
 */
import { mkdtempSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { createServer } from "../../adapters/node/index.ts";
import type { DocumentStorage } from "../../src/storage/document-storage.ts";
import { createPostgresDocumentStorage, createSQLiteDocumentStorage } from "../../src/storage/sql-document-stores.ts";
import { startChild } from "../fixtures/child.ts";
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

  it("loses at most the last write window to a SIGKILL during typing, and the document still loads", async () => {
    const sqliteFile = join(dir, "killed.db");
    const options = { documents: { sqliteFile, writeWindowMs: 100 } };
    const name = unique("typing-");
    const first = await startChild("node", "standalone", options);
    const url = `${first.httpUrl.replace(/^http/, "ws")}/yjs`;
    const editor = await openEditor(url, name);
    const typed: string[] = [];
    const type = (s: string) => {
      editor.text.insert(editor.text.length, s);
      typed.push(s);
    };
    // Written for sure: typed, then ten write windows of quiet.
    for (let i = 0; i < 20; i++) type(`a${i} `);
    await new Promise((r) => setTimeout(r, 1000));
    const settled = typed.join("");
    // Then typing that the kill interrupts.
    for (let i = 0; i < 30; i++) {
      type(`b${i} `);
      await new Promise((r) => setTimeout(r, 10));
    }
    await first.kill!();
    editor.destroy();

    const second = await startChild("node", "standalone", options);
    try {
      const reader = await openEditor(`${second.httpUrl.replace(/^http/, "ws")}/yjs`, name);
      const text = reader.text.toString();
      reader.destroy();
      expect(text.startsWith(settled)).toBe(true);
      expect(typed.join("").startsWith(text)).toBe(true);
    } finally {
      await second.stop();
    }
  });
});
