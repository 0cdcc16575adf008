/**
 * The document endpoint over real sockets, with the stock y-websocket provider: one suite, run per runtime
 * by test/documents/protocol-*.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Fixture } from "../wire-protocol.suite.ts";
import type { FixtureOptions } from "../fixtures/options.ts";
import { openEditor, rawDocSocket, textUpdate, until, updateMessage, type Editor } from "../helpers/documents.ts";

export type StartDocumentsFixture = (options: FixtureOptions) => Promise<Fixture>;

const unique = (prefix: string) => `${prefix}${Math.random().toString(36).slice(2, 10)}`;

export function documentsProtocolSuite(label: string, start: StartDocumentsFixture): void {
  describe(`documents over y-websocket (${label})`, () => {
    let fixture: Fixture;
    let docsUrl: string;
    const editors: Editor[] = [];
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

    it("leaves the rooms endpoint as it was", async () => {
      const raw = await rawDocSocket(fixture.wsUrl);
      raw.ws.send(JSON.stringify({ type: "join_room", payload: { roomId: unique("room-") } }));
      await until(() => raw.frames.some((f) => new TextDecoder().decode(f).includes("room_joined")), "room_joined");
      raw.ws.close();
    });
  });
}
