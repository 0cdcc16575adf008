/**
 * The document endpoint over real sockets, with the stock y-websocket provider: one suite, run per runtime
 * by test/documents/protocol-*.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Fixture } from "./wire-protocol.suite.ts";
import type { FixtureOptions } from "../fixtures/options.ts";
import {
  openEditor,
  openHocuspocus,
  rawDocSocket,
  textUpdate,
  until,
  updateMessage,
  type Editor,
  type HocuspocusEditor,
} from "../helpers/documents.ts";

export type StartDocumentsFixture = (options: FixtureOptions) => Promise<Fixture>;

const unique = (prefix: string) => `${prefix}${Math.random().toString(36).slice(2, 10)}`;

export function documentsProtocolSuite(label: string, start: StartDocumentsFixture): void {
  describe(`documents over y-websocket and Hocuspocus (${label})`, () => {
    let fixture: Fixture;
    let docsUrl: string;
    const editors: Array<Editor | HocuspocusEditor> = [];
    const open = async (name: string, params?: Record<string, string>) => {
      const editor = await openEditor(docsUrl, name, params);
      editors.push(editor);
      return editor;
    };

    beforeAll(async () => {
      fixture = await start({ documents: { authorize: true, awarenessRate: 1000 } });
      docsUrl = `${fixture.httpUrl.replace(/^http/, "ws")}/yjs`;
    });
    afterAll(async () => {
      for (const e of editors) e.destroy();
      await fixture?.stop();
    });

    it("lets two providers edit one text and converge, and gives a late joiner the whole state", async () => {
      const name = unique("doc-");
      const a = await open(name);
      const b = await open(name);
      a.text.insert(0, "hello");
      b.text.insert(0, "world ");
      await until(() => a.text.toString() === b.text.toString() && a.text.length === 11, "a and b to converge");
      const late = await open(name);
      await until(() => late.text.toString() === a.text.toString(), "the late joiner to get the text");
      expect(late.text.length).toBe(11);
    });

    it("passes awareness to the other clients and removes it when its client leaves", async () => {
      const name = unique("doc-");
      const a = await open(name);
      const b = await open(name);
      a.provider.awareness.setLocalStateField("user", { name: "Ada" });
      await until(() => (b.provider.awareness.getStates().get(a.doc.clientID) as any)?.user?.name === "Ada", "b to see a's awareness");
      const late = await open(name);
      await until(() => late.provider.awareness.getStates().has(a.doc.clientID), "a late joiner to see a's awareness");
      a.destroy();
      await until(() => !b.provider.awareness.getStates().has(a.doc.clientID), "a's awareness to be removed at b");
    });

    it("shows a reconnecting client's awareness again at once: the server has it bump its clock, not its 15 s renewal", async () => {
      const name = unique("doc-");
      const a = await open(name);
      const b = await open(name);
      a.provider.awareness.setLocalStateField("user", { name: "Ada" });
      await until(() => b.provider.awareness.getStates().has(a.doc.clientID), "b to see a's awareness");
      a.provider.disconnect();
      await until(() => !b.provider.awareness.getStates().has(a.doc.clientID), "a's awareness to leave b");
      // a reconnects and re-sends its state at the clock the server already removed it at.
      const told: unknown[] = [];
      a.provider.awareness.on("update", ({ removed }: { removed: number[] }, origin: unknown) => {
        if (removed.includes(a.doc.clientID)) told.push(origin);
      });
      a.provider.connect();
      await until(() => (b.provider.awareness.getStates().get(a.doc.clientID) as any)?.user?.name === "Ada", "a's awareness back at b");
      expect(told).toEqual([a.provider]);
    });

    it("never applies or relays a read-only client's changes, and tells it with a permission-denied message", async () => {
      const name = unique("read-");
      const reader = await open(name);
      const watcher = await open(name);
      reader.text.insert(0, "should not land");
      const raw = await rawDocSocket(`${docsUrl}/${name}`);
      raw.send(updateMessage(textUpdate("nor this")));
      // [messageAuth = 2, permissionDenied = 0, reason]
      await until(() => raw.frames.some((f) => f[0] === 2 && f[1] === 0), "the permission-denied message");
      const late = await open(name);
      await new Promise((r) => setTimeout(r, 200));
      expect(watcher.text.toString()).toBe("");
      expect(late.text.toString()).toBe("");
      raw.ws.close();
    });

    it("closes a socket that sends a malformed message with 4400 and leaves the document as it was", async () => {
      const name = unique("doc-");
      const a = await open(name);
      a.text.insert(0, "intact");
      const raw = await rawDocSocket(`${docsUrl}/${name}`);
      // A sync update whose payload is cut short, then garbage after a valid header.
      const good = updateMessage(textUpdate("xx"));
      raw.send(good.slice(0, good.length - 3));
      expect((await raw.closed).code).toBe(4400);
      const raw2 = await rawDocSocket(`${docsUrl}/${name}`);
      raw2.send(new Uint8Array([0, 2, 5, 1, 2, 3, 4, 5]));
      expect((await raw2.closed).code).toBe(4400);
      const raw3 = await rawDocSocket(`${docsUrl}/${name}`);
      raw3.send(new Uint8Array([9, 9, 9]));
      expect((await raw3.closed).code).toBe(4400);
      const late = await open(name);
      await until(() => late.text.toString() === "intact", "the late joiner to get the intact text");
      expect(a.text.toString()).toBe("intact");
    });

    it("closes a connection to a refused document with 4403", async () => {
      const raw = await rawDocSocket(`${docsUrl}/private-${unique("")}`);
      expect((await raw.closed).code).toBe(4403);
      expect(raw.frames.some((f) => f[0] === 2 && f[1] === 0)).toBe(true);
    });

    it("lets a Hocuspocus provider edit the same document as y-websocket providers", async () => {
      const name = unique("doc-");
      const ws = await open(name);
      const hp = await openHocuspocus(docsUrl, name);
      editors.push(hp);
      ws.text.insert(0, "from y-websocket");
      await until(() => hp.text.toString() === "from y-websocket", "the Hocuspocus client to see the y-websocket edit");
      hp.text.insert(0, "hocuspocus, ");
      await until(() => ws.text.toString() === "hocuspocus, from y-websocket", "the y-websocket client to see the Hocuspocus edit");
      expect(hp.provider.authorizedScope).toBe("read-write");
      await until(() => !hp.provider.hasUnsyncedChanges, "the sync status to count the change as saved");
      const late = await openHocuspocus(docsUrl, name);
      editors.push(late);
      await until(() => late.text.toString() === ws.text.toString(), "a late Hocuspocus joiner to get the whole state");
      hp.provider.setAwarenessField("user", { name: "Hopi" });
      await until(
        () => (ws.provider.awareness.getStates().get(hp.doc.clientID) as any)?.user?.name === "Hopi",
        "awareness across protocols",
      );
    });

    it("relays a Hocuspocus stateless message to the document's other Hocuspocus clients", async () => {
      const name = unique("doc-");
      const a = await openHocuspocus(docsUrl, name);
      const b = await openHocuspocus(docsUrl, name);
      editors.push(a, b);
      a.provider.sendStateless("ping from a");
      await until(() => b.stateless.includes("ping from a"), "b to get a's stateless message");
      expect(a.stateless).toEqual([]);
    });

    it("tells a read-only Hocuspocus client its scope and applies none of its changes", async () => {
      const name = unique("read-");
      const reader = await openHocuspocus(docsUrl, name);
      editors.push(reader);
      expect(reader.provider.authorizedScope).toBe("readonly");
      reader.text.insert(0, "nope");
      const watcher = await open(name);
      await new Promise((r) => setTimeout(r, 200));
      expect(watcher.text.toString()).toBe("");
    });

    it("answers a refused Hocuspocus document with permission denied and keeps the socket for others", async () => {
      const denied: string[] = [];
      const doc = new (await import("yjs")).Doc();
      const { HocuspocusProvider } = await import("@hocuspocus/provider");
      const WebSocket = (await import("ws")).default;
      const provider = new HocuspocusProvider({
        url: docsUrl,
        name: `private-${unique("")}`,
        document: doc,
        onAuthenticationFailed: ({ reason }) => void denied.push(reason),
        ...({ WebSocketPolyfill: WebSocket } as object),
      });
      await until(() => denied.length > 0, "permission denied");
      expect(denied).toEqual(["forbidden"]);
      provider.destroy();
    });

    it("closes a Hocuspocus socket whose message is malformed with 4400, leaving its documents as they were", async () => {
      const name = unique("doc-");
      const hp = await openHocuspocus(docsUrl, name);
      editors.push(hp);
      hp.text.insert(0, "steady");
      const raw = await rawDocSocket(docsUrl);
      // The auth message (empty token), then a sync update whose payload length runs past the end.
      const address = new TextEncoder().encode(name);
      raw.send(new Uint8Array([address.length, ...address, 2, 0, 0]));
      raw.send(new Uint8Array([address.length, ...address, 0, 2, 40, 1, 2, 3]));
      expect((await raw.closed).code).toBe(4400);
      const late = await open(name);
      await until(() => late.text.toString() === "steady", "the document as it was");
    });

    it("leaves the rooms endpoint as it was", async () => {
      const raw = await rawDocSocket(fixture.wsUrl);
      raw.ws.send(JSON.stringify({ type: "join_room", payload: { roomId: unique("room-") } }));
      await until(() => raw.frames.some((f) => new TextDecoder().decode(f).includes("room_joined")), "room_joined");
      raw.ws.close();
    });
  });
}
