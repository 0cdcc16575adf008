/**
 * `createDocumentProvider` (`@openlivesync/server/client`) against a real server: it syncs, edits with the
 * stock y-websocket provider, shares awareness, learns it is read-only, and stops when refused.
 */
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import * as Y from "yjs";
import { createServer, type NodeLiveServer } from "../../adapters/node/index.ts";
import { createDocumentProvider, type DocumentProvider } from "../../src/client/index.ts";
import { openEditor, until } from "../helpers/documents.ts";

describe("createDocumentProvider", () => {
  let server: NodeLiveServer;
  let url: string;
  const providers: DocumentProvider[] = [];
  const open = (name: string, token?: string) => {
    const p = createDocumentProvider({
      url,
      name,
      WebSocket: WebSocket as never,
      ...(token ? { getAuthToken: () => token } : {}),
    });
    providers.push(p);
    return p;
  };
  beforeAll(async () => {
    server = createServer({
      port: 0,
      hostname: "127.0.0.1",
      documents: {
        authorize: (_user, name) => (name.startsWith("private-") ? false : name.startsWith("read-") ? "read" : "write"),
      },
    });
    await new Promise<void>((resolve) => server.once("listening", resolve));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/yjs`;
  });
  afterAll(async () => {
    for (const p of providers) p.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("syncs, converges with another provider and the stock y-websocket provider, and shares awareness", async () => {
    const a = open("notes/pad one");
    const statuses: string[] = [];
    a.subscribe((s) => statuses.push(s.status));
    await until(() => a.getState().synced, "a to sync");
    expect(a.getState()).toMatchObject({ status: "synced", synced: true, readOnly: false });
    a.doc.getText("t").insert(0, "from a");
    const b = open("notes/pad one");
    await until(() => b.doc.getText("t").toString() === "from a", "b to get a's text");
    const stock = await openEditor(url, "notes/pad one");
    stock.text.insert(6, " and stock");
    await until(() => a.doc.getText("t").toString() === "from a and stock", "a to get the stock provider's edit");
    await until(() => b.doc.getText("t").toString() === "from a and stock", "b to get it too");
    a.awareness.setLocalStateField("user", { name: "Ada" });
    await until(() => (stock.provider.awareness.getStates().get(a.doc.clientID) as any)?.user?.name === "Ada", "Ada's awareness");
    a.destroy();
    await until(() => !stock.provider.awareness.getStates().has(a.doc.clientID), "Ada's awareness to go when she leaves");
    expect(statuses.at(-1)).toBe("stopped");
    expect(a.doc.getText("t").toString()).toBe("from a and stock");
    stock.destroy();
  });

  it("learns that a document is read-only when its edit is refused, and the server keeps none of it", async () => {
    const reader = open("read-only-notes");
    await until(() => reader.getState().synced, "the reader to sync");
    reader.doc.getText("t").insert(0, "not allowed");
    await until(() => reader.getState().readOnly, "the reader to be told");
    const { json } = await server.ws.documents!.read("read-only-notes");
    expect(json.t ?? "").toBe("");
  });

  it("stops, without retrying, when the server refuses the document (4403)", async () => {
    const refused = open("private-notes");
    await until(() => refused.getState().status === "stopped", "the provider to stop");
    expect(refused.getState().closed?.code).toBe(4403);
    expect(refused.getState().synced).toBe(false);
  });

  it("binds a doc it is given and leaves it whole on destroy", async () => {
    const doc = new Y.Doc();
    doc.getMap("m").set("k", 1);
    const p = createDocumentProvider({ url, name: "given-doc", doc, WebSocket: WebSocket as never });
    providers.push(p);
    expect(p.doc).toBe(doc);
    await until(() => p.getState().synced, "sync");
    const other = open("given-doc");
    await until(() => other.doc.getMap("m").get("k") === 1, "the other to get the given doc's content");
    p.destroy();
    expect(doc.getMap("m").get("k")).toBe(1);
  });
});
