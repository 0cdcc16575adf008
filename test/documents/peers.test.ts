import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { Awareness, applyAwarenessUpdate, encodeAwarenessUpdate } from "y-protocols/awareness";
import type { DocumentAnswer, DocumentLink, DocumentSink } from "../../src/cluster/backplane.ts";
import type { DocumentSession } from "../../src/documents/live-document.ts";
import { createDocumentSide } from "../../src/documents/documents.ts";
import { resolveDocumentOptions } from "../../src/documents/options.ts";
import { textUpdate } from "../helpers/documents.ts";

/** A document link that records what this instance sends and lets the test play the other instances. */
function fakeLink(answers: DocumentAnswer[] = []) {
  const sent: { name: string; kind: string }[] = [];
  const link: DocumentLink & { sink?: DocumentSink } = {
    listen(sink) {
      link.sink = sink;
    },
    subscribe: async () => {},
    unsubscribe() {},
    publish: (name, kind) => void sent.push({ name, kind }),
    fetch: async () => answers,
  };
  return { link, sent };
}

function side(link: DocumentLink) {
  return createDocumentSide({
    options: resolveDocumentOptions({ unloadAfterMs: 10 }, "/live")!,
    admit: async () => undefined,
    verifyToken: undefined,
    link,
    report: (error) => {
      throw error;
    },
  });
}

describe("documents with other instances (DocumentPeers)", () => {
  it("starts a document with what the other holders answered, and relays only this instance's changes", async () => {
    const { link, sent } = fakeLink([{ update: textUpdate("held elsewhere "), stateVector: new Uint8Array([0]) }]);
    const documents = side(link);
    const changes: unknown[] = [];
    documents.onChange((_doc, _update, origin) => changes.push(origin));
    const doc = await documents.registry.acquire("d");
    expect(doc.doc.getText("t").toString()).toBe("held elsewhere ");
    link.sink!.update("d", textUpdate("remote "));
    expect(doc.doc.getText("t").toString()).toContain("remote ");
    expect(sent).toEqual([]);
    expect(changes).toEqual([]);
    doc.apply(textUpdate("local "), "someone");
    expect(sent).toEqual([{ name: "d", kind: "update" }]);
    expect(changes).toEqual(["someone"]);
    const answer = link.sink!.answer("d", Y.encodeStateVector(new Y.Doc()))!;
    const copy = new Y.Doc();
    Y.applyUpdate(copy, answer.update);
    expect(copy.getText("t").toString()).toBe(doc.doc.getText("t").toString());
    expect(link.sink!.answer("unknown", new Uint8Array([0]))).toBeUndefined();
    documents.registry.release("d");
    await documents.close();
  });

  it("removes a dead instance's clients' awareness, from live messages and from answers, and tells local sessions", async () => {
    /** An awareness update with one client's state, as that client's provider sends it. */
    const clients: Awareness[] = [];
    const awarenessOf = (name: string) => {
      const awareness = new Awareness(new Y.Doc());
      clients.push(awareness);
      awareness.setLocalState({ user: { name } });
      const update = () => encodeAwarenessUpdate(awareness, [awareness.clientID]);
      return { id: awareness.clientID, update: update(), next: () => (awareness.setLocalState({ user: { name } }), update()) };
    };
    const [x, y, z] = [awarenessOf("x"), awarenessOf("y"), awarenessOf("z")];
    // Instance "b" answers the load with its own client y's state and the state x of instance "a" it heard.
    const both = new Awareness(new Y.Doc());
    clients.push(both);
    applyAwarenessUpdate(both, x.update, null);
    applyAwarenessUpdate(both, y.update, null);
    const answer = { update: new Uint8Array([0, 0]), stateVector: new Uint8Array([0]), from: "b" };
    const { link } = fakeLink([{ ...answer, awareness: encodeAwarenessUpdate(both, [x.id, y.id]), ownClients: [y.id] }]);
    const documents = side(link);
    const doc = await documents.registry.acquire("d");
    const frames: Uint8Array[] = [];
    const session: DocumentSession = { access: "write", awarenessIds: new Set(), sendRaw: (f) => void frames.push(f) };
    doc.sessions.add(session);
    expect([...link.sink!.remoteInstances()]).toEqual(["b"]);
    // Instance "a" relays its client x's state live; "c"'s client z arrives after the liveness check began.
    link.sink!.awareness("d", x.next(), { instanceId: "a" });
    const checkedAt = Date.now() + 1;
    await new Promise((r) => setTimeout(r, 5));
    link.sink!.awareness("d", z.update, { instanceId: "c" });
    expect(new Set(link.sink!.remoteInstances())).toEqual(new Set(["a", "b", "c"]));
    frames.length = 0;
    link.sink!.instancesDown(new Set(["a", "b", "c"]), checkedAt);
    expect([...doc.awareness.getStates().keys()]).toEqual([z.id]);
    expect(frames.length).toBe(1);
    expect([...link.sink!.remoteInstances()]).toEqual(["c"]);
    for (const a of clients) a.destroy();
    documents.registry.release("d");
    await documents.close();
  });
});
