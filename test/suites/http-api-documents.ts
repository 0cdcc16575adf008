/**
 * The HTTP API's document routes, run inside each runtime's `httpApiSuite` over the same fixtures: a stock
 * y-websocket provider edits, the API lists, reads and applies.
 */
import { afterAll, expect, it } from "vitest";
import * as Y from "yjs";
import type { FixtureOptions } from "../fixtures/options.ts";
import { openEditor, textUpdate, until, type Editor } from "../helpers/documents.ts";
import { API_SECRET, answer, httpApi } from "./http-api.suite.ts";
import type { Fixture } from "./wire-protocol.suite.ts";

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const unique = (prefix: string) => `${prefix}${Math.random().toString(36).slice(2, 10)}`;

export function documentRouteTests(server: (options?: FixtureOptions) => Promise<Fixture>): void {
  const editors: Editor[] = [];
  const docsUrl = (f: Fixture) => `${f.httpUrl.replace(/^http/, "ws")}/yjs`;
  const at = (name: string) => `/api/documents/${encodeURIComponent(name)}`;
  afterAll(() => {
    for (const e of editors) e.destroy();
  });

  it("lists documents with bytes and clients, reads one as a Yjs update and JSON, and applies an update clients receive", async () => {
    const f = await server();
    const api = httpApi(f.httpUrl);
    const name = unique("notes/api doc ");
    const editor = await openEditor(docsUrl(f), name);
    editors.push(editor);
    editor.text.insert(0, "typed");
    editor.doc.getMap("meta").set("title", "Notes");
    let read = await answer(await api.get(at(name)));
    for (let tries = 0; read.body?.json?.t !== "typed" || !read.body.json.meta; tries++) {
      expect(tries).toBeLessThan(500);
      await new Promise((r) => setTimeout(r, 20));
      read = await answer(await api.get(at(name)));
    }
    expect(read).toMatchObject({ status: 200, body: { name, json: { t: "typed", meta: { title: "Notes" } } } });
    const copy = new Y.Doc();
    Y.applyUpdate(copy, Buffer.from(read.body.update, "base64"));
    expect(copy.getText("t").toString()).toBe("typed");

    const list = await answer(await api.get("/api/documents"));
    expect(list.status).toBe(200);
    expect(list.body.documents.find((d: { name: string }) => d.name === name)).toMatchObject({ name, loaded: true, clients: 1 });
    expect(list.body.total).toBe(list.body.documents.length);

    const applied = await api.post(`${at(name)}/updates`, { update: b64(textUpdate("server: ")) });
    expect(applied.status).toBe(204);
    // Both inserts are at index 0 of the text with no neighbour: Yjs orders them by client id.
    await until(() => editor.text.toString().includes("server: "), "the client to get the server's update");
    expect([...editor.text.toString()].sort().join("")).toBe([..."server: typed"].sort().join(""));
  });

  it("reads a document nobody wrote as an empty one (200, not 404)", async () => {
    const read = await answer(await httpApi((await server()).httpUrl).get(at(unique("never-"))));
    expect(read).toMatchObject({ status: 200, body: { json: {} } });
    const doc = new Y.Doc();
    Y.applyUpdate(doc, Buffer.from(read.body.update, "base64"));
    expect(doc.share.size).toBe(0);
  });

  it("refuses a bad update (422), a body that is not JSON (400), a name too long (422) and changes nothing", async () => {
    const api = httpApi((await server()).httpUrl);
    const name = unique("refused-");
    const post = (body: unknown) => api.post(`${at(name)}/updates`, body);
    expect(await answer(await post({ update: "not base64!" }))).toMatchObject({
      status: 422,
      body: { error: { code: "INVALID_PAYLOAD" } },
    });
    expect(await answer(await post({}))).toMatchObject({ status: 422, body: { error: { code: "INVALID_PAYLOAD" } } });
    expect(await answer(await post({ update: b64(new Uint8Array([1, 2, 3])) }))).toMatchObject({
      status: 422,
      body: { error: { code: "INVALID_PAYLOAD", message: expect.stringMatching(/Yjs update/) } },
    });
    expect(await answer(await post("{nope"))).toMatchObject({ status: 400, body: { error: { code: "INVALID_JSON" } } });
    expect(await answer(await api.get(at("n".repeat(257))))).toMatchObject({ status: 422, body: { error: { code: "INVALID_PAYLOAD" } } });
    expect((await answer(await api.get(at(name)))).body.json).toEqual({});
  });

  it("answers 413 to an update past maxDocumentBytes and to a body past the update limit", async () => {
    const f = await server({ apiSecret: API_SECRET, documents: { maxDocumentBytes: 1000, maxMessageBytes: 3000 } });
    const api = httpApi(f.httpUrl);
    const name = unique("big-");
    const post = (body: unknown) => api.post(`${at(name)}/updates`, body);
    expect((await post({ update: b64(textUpdate("x".repeat(600))) })).status).toBe(204);
    expect(await answer(await post({ update: b64(textUpdate("y".repeat(600))) }))).toMatchObject({
      status: 413,
      body: { error: { code: "TOO_LARGE" } },
    });
    expect(await answer(await post({ update: "A".repeat(6000) }))).toMatchObject({ status: 413, body: { error: { code: "TOO_LARGE" } } });
    expect((await answer(await api.get(at(name)))).body.json.t).toBe("x".repeat(600));
  });

  it("answers 404 under /api/documents when documents are off", async () => {
    const f = await server({ apiSecret: API_SECRET, documents: false });
    const res = await answer(await httpApi(f.httpUrl).get("/api/documents"));
    expect(res).toMatchObject({ status: 404, body: { error: { code: "NOT_FOUND", message: expect.stringMatching(/documents: false/) } } });
  });
}
