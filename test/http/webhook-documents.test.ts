/**
 * `document.updated`: one event per document per window, with its state vector. The window is checked on
 * a fake clock; end to end, a burst of updates from real y-websocket clients comes to a receiver on
 * 127.0.0.1 as one event per document, counted, not timed.
 */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import * as Y from "yjs";
import { createServer, type NodeLiveServer } from "../../adapters/node/index.ts";
import { DocumentUpdateDebounce, type DocumentUpdatedData } from "../../src/webhooks/document-updates.ts";
import { openEditor, until, type Editor } from "../helpers/documents.ts";
import { WebhookReceiver } from "../helpers/webhook-receiver.ts";

const SECRET = "document-webhook-secret";
const stops: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const stop of stops.splice(0).reverse()) await stop();
});

const vector = (base64: string) => Object.fromEntries(Y.decodeStateVector(Buffer.from(base64, "base64")));

describe("document.updated debounce", () => {
  it("sends at most one event per document per window, when the window ends, with the newest state vector", () => {
    vi.useFakeTimers();
    const sent: DocumentUpdatedData[] = [];
    const debounce = new DocumentUpdateDebounce(2000, (_name, data) => sent.push(data));
    let version = 1;
    const sv = () => new Uint8Array([1, 7, version]);
    for (let i = 0; i < 5; i++) debounce.changed("a", sv);
    debounce.changed("b", sv);
    vi.advanceTimersByTime(1999);
    version = 2;
    debounce.changed("a", sv);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sent.map((d) => [d.name, d.updates, vector(d.stateVector)])).toEqual([
      ["a", 6, { 7: 2 }],
      ["b", 1, { 7: 2 }],
    ]);
    debounce.changed("a", sv);
    vi.advanceTimersByTime(1999);
    expect(sent).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(sent).toHaveLength(3);
    debounce.changed("b", sv);
    debounce.flush();
    expect(sent.map((d) => d.name)).toEqual(["a", "b", "a", "b"]);
    vi.advanceTimersByTime(10_000);
    expect(sent).toHaveLength(4);
  });
});

describe("document.updated from a server", () => {
  async function start(receiver: WebhookReceiver, documentDebounceMs: number): Promise<{ server: NodeLiveServer; docsUrl: string }> {
    const server = createServer({
      port: 0,
      hostname: "127.0.0.1",
      webhooks: { url: receiver.url, secret: SECRET, documentDebounceMs },
    });
    await new Promise<void>((resolve) => server.once("listening", resolve));
    return { server, docsUrl: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/yjs` };
  }
  const close = (server: NodeLiveServer) => new Promise<void>((resolve) => server.close(() => resolve()));

  it("sends one event per document for a burst of updates, with the state vector the clients reached", async () => {
    const receiver = await WebhookReceiver.start();
    stops.push(() => receiver.down());
    // A window far longer than the test: every event is the one close() sends for its open window.
    const { server, docsUrl } = await start(receiver, 600_000);
    const editors: Editor[] = [
      await openEditor(docsUrl, "burst-a"),
      await openEditor(docsUrl, "burst-a"),
      await openEditor(docsUrl, "burst-b"),
    ];
    const [a1, a2, b] = editors as [Editor, Editor, Editor];
    for (let i = 0; i < 30; i++) (i % 2 ? a1 : a2).text.insert(0, String(i % 10));
    for (let i = 0; i < 10; i++) b.text.insert(0, "b");
    const onServer = (name: string) => server.ws.engine.documents!.registry.peek(name)?.doc.getText("t").length;
    await until(() => onServer("burst-a") === 30 && onServer("burst-b") === 10, "the server to have every update");
    expect(receiver.received).toEqual([]);
    await until(() => a1.text.length === 30, "a1 to have a2's updates too");
    const clientVector = (doc: Y.Doc) => vector(Buffer.from(Y.encodeStateVector(doc)).toString("base64"));
    const expected = { "burst-a": clientVector(a1.doc), "burst-b": clientVector(b.doc) };
    for (const e of editors) e.destroy();
    await close(server);
    const events = receiver.received.filter((h) => h.body.type === "document.updated");
    expect(events.map((h) => [h.body.data.name, h.body.data.updates]).sort()).toEqual([
      ["burst-a", 30],
      ["burst-b", 10],
    ]);
    for (const h of events) expect(vector(h.body.data.stateVector)).toEqual(expected[h.body.data.name as keyof typeof expected]);
    expect(events[0]!.headers["openlivesync-event-type"]).toBe("document.updated");
  });

  it("sends each burst when its window ends, counting every update once, the last with the newest state vector", async () => {
    const receiver = await WebhookReceiver.start();
    stops.push(() => receiver.down());
    const { server, docsUrl } = await start(receiver, 200);
    stops.push(() => close(server));
    const editor = await openEditor(docsUrl, "two-bursts");
    stops.push(() => editor.destroy());
    const events = () => receiver.received.filter((h) => h.body.type === "document.updated");
    const counted = () => events().reduce((n, h) => n + h.body.data.updates, 0);
    for (let i = 0; i < 20; i++) editor.text.insert(0, "x");
    await until(() => counted() === 20, "the first burst's events");
    const first = events().length;
    for (let i = 0; i < 20; i++) editor.text.insert(0, "y");
    // However the updates fell into windows, each event counts those of its own window and none is lost.
    await until(() => counted() === 40, "the second burst's events");
    expect(events().length).toBeGreaterThan(first);
    const last = events().at(-1)!.body.data.stateVector;
    expect(vector(last)).toEqual(vector(Buffer.from(Y.encodeStateVector(editor.doc)).toString("base64")));
  });
});
