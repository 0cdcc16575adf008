/** Clients for the document endpoint: the stock y-websocket provider and a raw socket. */
import WebSocket from "ws";
import * as Y from "yjs";
import * as encoding from "lib0/encoding";
import { WebsocketProvider } from "y-websocket";
import { HocuspocusProvider } from "@hocuspocus/provider";

/** Resolves once `check` is true (polled every 10 ms); fails with `what` after `ms`. */
export async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Editor {
  doc: Y.Doc;
  provider: WebsocketProvider;
  text: Y.Text;
  destroy(): void;
}

/** A y-websocket provider on `name`, synced (resolves once the server answered its step 1). */
export async function openEditor(docsUrl: string, name: string, params: Record<string, string> = {}): Promise<Editor> {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(docsUrl, name, doc, {
    WebSocketPolyfill: WebSocket as never,
    params,
    disableBc: true,
  });
  await until(() => provider.synced, `provider on ${name} to sync`);
  return { doc, provider, text: doc.getText("t"), destroy: () => (provider.destroy(), doc.destroy()) };
}

export interface RawDocSocket {
  ws: WebSocket;
  frames: Uint8Array[];
  closed: Promise<{ code: number; reason: string }>;
  send(bytes: Uint8Array): void;
}

/** A plain WebSocket on `${docsUrl}/${name}` that records what it receives. */
export async function rawDocSocket(url: string): Promise<RawDocSocket> {
  const ws = new WebSocket(url);
  const frames: Uint8Array[] = [];
  ws.on("message", (data: Buffer) => frames.push(new Uint8Array(data)));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return { ws, frames, closed, send: (bytes) => ws.send(bytes) };
}

/** A y-websocket update message carrying `update`. */
export function updateMessage(update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 0);
  encoding.writeVarUint(e, 2);
  encoding.writeVarUint8Array(e, update);
  return encoding.toUint8Array(e);
}

/** An update that inserts `text` at the start of Y.Text "t", from a fresh client. */
export function textUpdate(text: string): Uint8Array {
  const doc = new Y.Doc();
  doc.getText("t").insert(0, text);
  return Y.encodeStateAsUpdate(doc);
}

export interface HocuspocusEditor {
  doc: Y.Doc;
  provider: HocuspocusProvider;
  text: Y.Text;
  stateless: string[];
  destroy(): void;
}

/** A Hocuspocus provider on `name` at the document endpoint itself, synced. */
export async function openHocuspocus(docsUrl: string, name: string, token?: string): Promise<HocuspocusEditor> {
  const doc = new Y.Doc();
  const stateless: string[] = [];
  const provider = new HocuspocusProvider({
    url: docsUrl,
    name,
    document: doc,
    token: token ?? null,
    onStateless: ({ payload }) => void stateless.push(payload),
    ...({ WebSocketPolyfill: WebSocket } as object),
  });
  await until(() => provider.isSynced, `Hocuspocus provider on ${name} to sync`);
  return { doc, provider, text: doc.getText("t"), stateless, destroy: () => (provider.destroy(), doc.destroy()) };
}
