import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createServer, type NodeLiveServer } from "../../adapters/node/index.ts";
import { openEditor, textUpdate, until } from "../helpers/documents.ts";

describe("documents from the server API", () => {
  let server: NodeLiveServer;
  let docsUrl: string;
  beforeAll(async () => {
    server = createServer({ port: 0, hostname: "127.0.0.1", documents: { writeWindowMs: 20 } });
    await new Promise<void>((resolve) => server.once("listening", resolve));
    docsUrl = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/yjs`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("reads a document as a Yjs update and as JSON of its top-level types", async () => {
    const editor = await openEditor(docsUrl, "api-read");
    editor.text.insert(0, "typed");
    editor.doc.getMap("meta").set("title", "Notes");
    editor.doc.getArray("tags").push(["a", "b"]);
    await until(() => server.ws.engine.documents!.registry.peek("api-read")?.doc.share.size === 3, "the server to have the edits");
    const snapshot = await server.ws.documents!.read("api-read");
    expect(snapshot.json).toEqual({ t: "typed", meta: { title: "Notes" }, tags: ["a", "b"] });
    const copy = new Y.Doc();
    Y.applyUpdate(copy, snapshot.update);
    expect(copy.getText("t").toString()).toBe("typed");
    editor.destroy();
  });

  it("applies a server update that the clients receive, and lists the document", async () => {
    const editor = await openEditor(docsUrl, "api-apply");
    await server.ws.documents!.apply("api-apply", textUpdate("from the server "));
    await until(() => editor.text.toString() === "from the server ", "the client to get the server's update");
    await expect(server.ws.documents!.apply("api-apply", new Uint8Array([1, 2, 3]))).rejects.toThrow();
    const list = await server.ws.documents!.list();
    expect(list.find((d) => d.name === "api-apply")).toMatchObject({ loaded: true });
    editor.destroy();
  });
});
