/**
 * The Hocuspocus protocol (what `@hocuspocus/provider` speaks): one socket carries many documents, each
 * message starting with the document's address (its name, or name\0session id), then y-websocket's message
 * types plus auth (2), sync reply (4), stateless (5), close (7) and sync status (8). A document opens with
 * the provider's auth message (its token); messages for it before that wait, in order.
 */
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import type { UserInfo } from "../protocol/messages.ts";
import { DocumentCloseCodes } from "./codes.ts";
import {
  ClosingConnection,
  type ConnectionContext,
  type DocumentConnection,
  type DocumentPeer,
  frameWriter,
} from "./document-connection.ts";
import { AwarenessBucket, handleSyncMessage } from "./document-session.ts";
import { concat } from "./fanout-batch.ts";
import type { DocumentSession, LiveDocument } from "./live-document.ts";
import { MAX_DOCUMENT_NAME_LENGTH } from "./options.ts";
import { encodeSyncStep1, MalformedMessage, readMessageBody } from "./sync-messages.ts";

const HP = { SYNC: 0, AWARENESS: 1, AUTH: 2, QUERY_AWARENESS: 3, SYNC_REPLY: 4, STATELESS: 5, CLOSE: 7, SYNC_STATUS: 8, PONG: 10 } as const;
const AUTH = { TOKEN: 0, PERMISSION_DENIED: 1, AUTHENTICATED: 2 } as const;

/** Documents one connection may be opening at once (before their auth completes). */
const MAX_PENDING_DOCUMENTS = 64;
/** Messages held per document until its auth completes. */
const MAX_HELD_MESSAGES = 256;

interface Opening {
  state: "waiting" | "opening";
  held: Uint8Array[];
}
interface Open {
  state: "open";
  name: string;
  doc: LiveDocument;
  session: DocumentSession;
}

export class HocuspocusConnection extends ClosingConnection implements DocumentConnection {
  private readonly documents = new Map<string, Opening | Open>();
  private readonly bucket: AwarenessBucket;

  constructor(
    private readonly ctx: ConnectionContext,
    peer: DocumentPeer,
    readonly user: UserInfo | undefined,
    onClose: (code: number) => void,
  ) {
    super(peer, onClose);
    this.bucket = new AwarenessBucket(ctx.options.awarenessRate);
  }

  receive(data: Uint8Array): void {
    if (this.isClosed) return;
    // The provider's answer to a server ping is the bare type byte.
    if (data.byteLength === 1 && data[0] === HP.PONG) return;
    try {
      this.route(data);
    } catch (error) {
      if (error instanceof MalformedMessage) return this.close(DocumentCloseCodes.MALFORMED, `Malformed message: ${error.message}`);
      this.ctx.report(error);
      this.close(DocumentCloseCodes.MALFORMED, "Message could not be applied");
    }
  }

  private route(data: Uint8Array): void {
    const decoder = decoding.createDecoder(data);
    const address = read(() => decoding.readVarString(decoder));
    const name = address.split("\0", 1)[0]!;
    if (name === "" || name.length > MAX_DOCUMENT_NAME_LENGTH) throw new MalformedMessage("document name empty or too long");
    const entry = this.documents.get(address);
    if (entry?.state === "open") return this.handle(entry, address, decoder);
    const type = read(() => decoding.readVarUint(decoder));
    if (type === HP.AUTH && entry?.state !== "opening") {
      const token = read(() => {
        if (decoding.readVarUint(decoder) !== AUTH.TOKEN) throw new Error("not a token message");
        return decoding.readVarString(decoder);
      });
      const held = entry?.held ?? [];
      this.documents.set(address, { state: "opening", held });
      void this.open(address, name, token, held);
      return;
    }
    if (!entry) {
      if (this.documents.size - this.openCount() >= MAX_PENDING_DOCUMENTS) {
        return this.close(DocumentCloseCodes.MALFORMED, "Too many documents waiting for their auth message");
      }
      this.documents.set(address, { state: "waiting", held: [data.slice()] });
      return;
    }
    if (entry.held.length >= MAX_HELD_MESSAGES) return this.close(DocumentCloseCodes.MALFORMED, "Too many messages before auth");
    entry.held.push(data.slice());
  }

  private openCount(): number {
    let n = 0;
    for (const entry of this.documents.values()) if (entry.state === "open") n++;
    return n;
  }

  /** Auth for one document: the token (when verification is configured), `authorize`, then the load. */
  private async open(address: string, name: string, token: string, held: Uint8Array[]): Promise<void> {
    const { ctx } = this;
    const denied = (reason: string) => {
      if (this.isClosed) return;
      this.documents.delete(address);
      this.send(address, (e) => {
        encoding.writeVarUint(e, HP.AUTH);
        encoding.writeVarUint(e, AUTH.PERMISSION_DENIED);
        encoding.writeVarString(e, reason);
      });
    };
    let user = this.user;
    if (token !== "" && ctx.verifyToken) {
      const verified = await ctx.verifyToken(token);
      if (!verified) return denied("unauthorized");
      user = verified;
    }
    const access = await ctx.authorize(user, name);
    if (this.isClosed) return;
    if (!access) return denied("forbidden");
    let doc: LiveDocument;
    try {
      doc = await ctx.registry.acquire(name);
    } catch {
      return denied("unavailable");
    }
    if (this.isClosed || this.documents.get(address)?.state !== "opening") return ctx.registry.release(name);
    const prefix = address === name ? doc.prefix : encodeAddress(address);
    const session: DocumentSession = {
      access,
      awarenessIds: new Set(),
      prefix,
      sendRaw: (bytes) => this.peer.send(bytes),
      ...frameWriter(ctx, this.peer),
    };
    const entry: Open = { state: "open", name, doc, session };
    this.documents.set(address, entry);
    doc.sessions.add(session);
    this.send(address, (e) => {
      encoding.writeVarUint(e, HP.AUTH);
      encoding.writeVarUint(e, AUTH.AUTHENTICATED);
      encoding.writeVarString(e, access === "write" ? "read-write" : "readonly");
    });
    const awareness = doc.awarenessFrame();
    if (awareness) session.sendRaw(concat(prefix, awareness));
    for (const data of held) {
      if (this.isClosed || this.documents.get(address) !== entry) break;
      const decoder = decoding.createDecoder(data);
      decoding.readVarString(decoder);
      try {
        this.handle(entry, address, decoder);
      } catch (error) {
        if (error instanceof MalformedMessage) return this.close(DocumentCloseCodes.MALFORMED, `Malformed message: ${error.message}`);
        throw error;
      }
    }
  }

  private handle(entry: Open, address: string, decoder: decoding.Decoder): void {
    const { doc, session } = entry;
    const type = read(() => decoding.readVarUint(decoder));
    const reply = (frame: Uint8Array) => session.sendRaw(concat(session.prefix!, frame));
    if (type === HP.STATELESS) {
      const payload = read(() => decoding.readVarString(decoder));
      if (decoding.hasContent(decoder)) throw new MalformedMessage("trailing bytes after the message");
      // Relayed to the document's other Hocuspocus clients (the provider emits "stateless").
      return doc.broadcast(statelessFrame(payload), session);
    }
    if (type === HP.CLOSE) return this.leave(address, entry);
    if (type === HP.AUTH) return; // a provider re-sending its token to an open document: nothing to do
    // Sync reply (4) is sync (0) that asks for no step 1 back; the rest is y-websocket's format.
    const message = readMessageBody(type === HP.SYNC_REPLY ? HP.SYNC : type, decoder);
    // The server's step 1 back, so the provider sends what the server lacks (its step 2).
    if (message.type === "step1" && type === HP.SYNC) reply(encodeSyncStep1(doc.stateVector()));
    const outcome = handleSyncMessage(this.ctx, doc, session, this.bucket, message, reply);
    if (outcome !== undefined && outcome !== "read-only") return this.close(outcome.code, outcome.reason);
    if (message.type === "update") {
      // Sync status: whether the update was applied (the provider counts its unsynced changes down with it).
      const applied = outcome === undefined && (session.access === "write" || message.update.byteLength <= 2);
      this.send(address, (e) => {
        encoding.writeVarUint(e, HP.SYNC_STATUS);
        encoding.writeVarUint(e, applied ? 1 : 0);
      });
    }
  }

  private leave(address: string, entry: Open): void {
    this.documents.delete(address);
    entry.doc.leave(entry.session);
    this.ctx.registry.release(entry.name);
  }

  private send(address: string, write: (encoder: encoding.Encoder) => void): void {
    const encoder = encoding.createEncoder();
    encoding.writeVarString(encoder, address);
    write(encoder);
    this.peer.send(encoding.toUint8Array(encoder));
  }

  protected leaveAll(): void {
    for (const [address, entry] of this.documents) if (entry.state === "open") this.leave(address, entry);
    this.documents.clear();
  }
}

function read<T>(fn: () => T): T {
  try {
    return fn();
  } catch (cause) {
    throw new MalformedMessage("truncated or invalid message", { cause });
  }
}

function statelessFrame(payload: string): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, HP.STATELESS);
  encoding.writeVarString(encoder, payload);
  return encoding.toUint8Array(encoder);
}

function encodeAddress(address: string): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, address);
  return encoding.toUint8Array(encoder);
}
