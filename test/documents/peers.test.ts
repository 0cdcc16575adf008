import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import type { DocumentLink, DocumentSink } from "../../src/cluster/backplane.ts";
import { createDocumentSide } from "../../src/documents/documents.ts";
import { resolveDocumentOptions } from "../../src/documents/options.ts";
import { textUpdate } from "../helpers/documents.ts";

/** A document link that records what this instance sends and lets the test play the other instances. */
function fakeLink(answers: { update: Uint8Array; stateVector: Uint8Array }[] = []) {
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
});
