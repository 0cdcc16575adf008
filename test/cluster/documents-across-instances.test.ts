/**
 * Shared documents across instances (issue 24): Node child processes over the build on a private single
 * Redis and a private Redis Cluster, stock y-websocket providers on different instances. Stored state is
 * checked by reading the instances' store (SQLite; the kill case also Postgres and MySQL) directly.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPool } from "mysql2/promise";
import postgres from "postgres";
import * as Y from "yjs";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import "../helpers/sqlite-driver.ts";
import type { DocumentStorage } from "../../src/storage/document-storage.ts";
import {
  createMySQLDocumentStorage,
  createPostgresDocumentStorage,
  createSQLiteDocumentStorage,
} from "../../src/storage/sql-document-stores.ts";
import { DIST, startInstance, type Instance, type InstanceConfig } from "../helpers/cluster.ts";
import { openEditor, until, type Editor } from "../helpers/documents.ts";
import { privateRedises } from "../helpers/private-redises.ts";
import { DATABASE_URL, MYSQL_URL, REDIS_URL, probe } from "../helpers/services.ts";

const run = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const docName = () => `doc-${Math.random().toString(36).slice(2, 10)}`;
/** Long enough that nothing typed in a test is stored before the test looks. */
const NEVER_MS = 600_000;

const { single, cluster } = await privateRedises("documents");

const targets: [string, string | undefined][] = [
  ["a single Redis", single?.url ?? REDIS_URL],
  ["a Redis Cluster", cluster?.url],
];

const docsUrl = (instance: Instance) => `ws://127.0.0.1:${instance.port}/yjs`;

/** What `open()`'s store holds of `name`, as text "t". */
async function storedText(open: () => Promise<DocumentStorage>, name: string): Promise<string> {
  const storage = await open();
  try {
    const { updates } = await storage.load(name);
    const doc = new Y.Doc();
    for (const update of updates) Y.applyUpdate(doc, update);
    return doc.getText("t").toString();
  } finally {
    await storage.close();
  }
}

const sqlTables: { url: string; table: string }[] = [];
afterAll(async () => {
  for (const { url, table } of sqlTables) {
    if (url.startsWith("mysql:")) {
      const pool = createPool({ uri: url, connectionLimit: 1 });
      await pool.query(`drop table if exists \`${table}\``);
      await pool.end();
    } else {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      await sql.unsafe(`drop table if exists "${table}"`);
      await sql.end();
    }
  }
});

/** A store every instance shares: its URL and table, and how the test reads what it holds of a document. */
type SharedStore = () => { storageUrl: string; tableName?: string; read(name: string): Promise<string> };
const sqlStore =
  (url: string, make: typeof createPostgresDocumentStorage): SharedStore =>
  () => {
    const table = `ols_docs_x_${Math.random().toString(36).slice(2, 10)}`;
    sqlTables.push({ url, table });
    return { storageUrl: url, tableName: table, read: (name) => storedText(() => make(url, { tableName: table }), name) };
  };
const allStores: [string, boolean, SharedStore][] = [
  [
    "SQLite",
    true,
    () => {
      const file = join(mkdtempSync(join(tmpdir(), "ols-docs-x-")), "docs.db");
      return { storageUrl: `sqlite:${file}`, read: (name) => storedText(async () => createSQLiteDocumentStorage(file), name) };
    },
  ],
  ["Postgres", !(await probe(DATABASE_URL)), sqlStore(DATABASE_URL, createPostgresDocumentStorage)],
  ["MySQL/MariaDB", !(await probe(MYSQL_URL)), sqlStore(MYSQL_URL, createMySQLDocumentStorage)],
];
// A database that does not answer is left out, with a line saying so; under CI=true its case runs and fails.
const stores = allStores
  .filter(
    ([label, reachable]) =>
      reachable || process.env.CI === "true" || void console.warn(`[skip] documents across instances on ${label}: unreachable`),
  )
  .map(([label, , store]) => [label, store] as [string, SharedStore]);

describe.each(targets)("documents across instances on %s", (_label, redisUrl) => {
  const instances: Instance[] = [];
  const editors: Editor[] = [];
  const prefix = `olstest:${run}:docs:${Math.random().toString(36).slice(2, 8)}`;
  const file = join(mkdtempSync(join(tmpdir(), "ols-docs-x-")), "docs.db");
  const start = async (documents: InstanceConfig["documents"] = {}) => {
    const instance = await startInstance(DIST, { redisUrl: redisUrl!, prefix, heartbeatMs: 1000, ttlMs: 6000, documents });
    instances.push(instance);
    return instance;
  };
  const edit = async (instance: Instance, name: string) => {
    const editor = await openEditor(docsUrl(instance), name);
    editors.push(editor);
    return editor;
  };
  afterEach(async () => {
    for (const editor of editors.splice(0)) editor.destroy();
    await Promise.all(instances.splice(0).map((i) => i.stop()));
  });

  it.skipIf(!redisUrl)(
    "converges y-websocket providers on different instances, and their awareness crosses",
    async () => {
      const [a, b] = [await start(), await start()];
      const name = docName();
      const [ea, eb] = [await edit(a, name), await edit(b, name)];
      ea.text.insert(0, "hello ");
      eb.text.insert(0, "world ");
      await until(() => ea.text.length === 12 && ea.text.toString() === eb.text.toString(), "both editors to converge");
      eb.provider.awareness.setLocalStateField("user", { name: "bea" });
      await until(
        () => (ea.provider.awareness.getStates().get(eb.doc.clientID) as { user?: { name: string } })?.user?.name === "bea",
        "b's awareness on a",
      );
      editors.splice(editors.indexOf(eb), 1);
      eb.destroy();
      await until(() => !ea.provider.awareness.getStates().has(eb.doc.clientID), "b's awareness removed on a");
      expect([...a.errors, ...b.errors]).toEqual([]);
    },
    60_000,
  );

  it.skipIf(!redisUrl)(
    "gives a late joiner on a third instance the text typed on two others and not yet stored",
    async () => {
      const documents = { storageUrl: `sqlite:${file}`, writeWindowMs: NEVER_MS };
      const [a, b] = [await start(documents), await start(documents)];
      const name = docName();
      const [ea, eb] = [await edit(a, name), await edit(b, name)];
      ea.text.insert(0, "typed on a. ");
      eb.text.insert(0, "typed on b. ");
      await until(() => ea.text.toString() === eb.text.toString() && ea.text.length === 24, "a and b to converge");
      expect(await storedText(async () => createSQLiteDocumentStorage(file), name)).toBe("");
      const c = await start(documents);
      const ec = await edit(c, name);
      // Nothing is typed from here on: the text can only come from a and b's answers to c's question.
      await until(() => ec.text.toString() === ea.text.toString(), "c to get the text a and b hold", 20_000);
      // Awareness the holders know reaches the joiner with the state.
      ea.provider.awareness.setLocalStateField("user", { name: "ada" });
      await until(() => ec.provider.awareness.getStates().has(ea.doc.clientID), "a's awareness on c");
    },
    60_000,
  );

  it.skipIf(!redisUrl).each(stores)(
    "loses nothing the others hold when an instance is killed before it stored its clients' typing (%s)",
    async (_store, store) => {
      const { storageUrl, tableName, read } = store();
      const a = await start({ storageUrl, tableName, writeWindowMs: NEVER_MS });
      const b = await start({ storageUrl, tableName, writeWindowMs: NEVER_MS, unloadAfterMs: 100 });
      const name = docName();
      const [ea, eb] = [await edit(a, name), await edit(b, name)];
      ea.text.insert(0, "only a's client typed this");
      await until(() => eb.text.toString() === ea.text.toString(), "b to hear a's typing");
      a.kill9();
      await a.exited;
      expect(await read(name)).toBe("");
      // b's last client leaves: b unloads the document and writes what it holds, a's typing included.
      editors.splice(editors.indexOf(eb), 1);
      eb.destroy();
      let stored = "";
      const deadline = Date.now() + 20_000;
      while (stored === "" && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        stored = await read(name);
      }
      expect(stored).toBe("only a's client typed this");
    },
    60_000,
  );
});
