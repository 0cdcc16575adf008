import * as decoding from "lib0/decoding";
import type { UserInfo } from "../protocol/messages.ts";
import { DocumentCloseCodes } from "./codes.ts";
import type { DocumentRegistry } from "./document-registry.ts";
import { DocumentUnavailable } from "./document-registry.ts";
import type { DocumentAccess } from "./options.ts";
import type { DocumentWire } from "./document-wire.ts";
import type { DocumentSession, LiveDocument } from "./live-document.ts";
import { AwarenessBucket, handleSyncMessage, type SessionContext } from "./document-session.ts";
import { encodePermissionDenied, encodeSyncStep1, MalformedMessage, readSyncMessage } from "./sync-messages.ts";

/** A socket as the document side uses it (a crossws peer). */
export interface DocumentPeer {
  send(data: Uint8Array): unknown;
  close(code?: number, reason?: string): void;
}

/** Messages a client may send before its document has loaded; more closes it (4503). */
const MAX_EARLY_MESSAGES = 256;

export interface ConnectionContext extends SessionContext {
  registry: DocumentRegistry;
  authorize(user: UserInfo | undefined, name: string): Promise<DocumentAccess>;
  /** Verifies a token sent in a Hocuspocus auth message; undefined when no verification is configured. */
  verifyToken: ((token: string) => Promise<UserInfo | null>) | undefined;
  /** The runtime's direct frame writes, if it has them: each session asks for its socket's writer. */
  wire?: DocumentWire;
  report(error: unknown): void;
}

/** A session's `writeFrame` for `peer`, when the runtime can write frames to its socket directly. */
export function frameWriter(ctx: ConnectionContext, peer: DocumentPeer): Pick<DocumentSession, "writeFrame"> {
  const writeFrame = ctx.wire?.writer(peer);
  return writeFrame ? { writeFrame } : {};
}

/** What every document connection offers the hooks, whatever its protocol. */
export interface DocumentConnection {
  readonly user: UserInfo | undefined;
  receive(data: Uint8Array): void;
  /** The socket closed (either side): leave every document. */
  closed(): void;
  /** Close with `code` (counted), once. */
  close(code: number, reason: string): void;
}

/**
 * The close every protocol shares: counted once (`onClose`), the socket closed, then the documents left
 * (also when the socket closed first).
 */
export abstract class ClosingConnection {
  protected isClosed = false;

  constructor(
    protected readonly peer: DocumentPeer,
    private readonly onClose: (code: number) => void,
  ) {}

  close(code: number, reason: string): void {
    if (this.isClosed) return;
    this.onClose(code);
    try {
      this.peer.close(code, reason);
    } catch {}
    this.closed();
  }

  closed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.leaveAll();
  }

  /** Leave every document this connection holds or is opening (once, when the socket is gone). */
  protected abstract leaveAll(): void;
}

/**
 * A y-websocket client: one document, named by the URL. Opens it (access, then load), greets with sync
 * step 1 and the awareness states, and until then holds the client's early messages in order.
 */
export class YWebsocketConnection extends ClosingConnection implements DocumentConnection {
  private doc: LiveDocument | undefined;
  private session: DocumentSession | undefined;
  private early: Uint8Array[] | undefined = [];
  private toldReadOnly = false;
  private readonly bucket: AwarenessBucket;

  constructor(
    private readonly ctx: ConnectionContext,
    peer: DocumentPeer,
    readonly user: UserInfo | undefined,
    private readonly name: string,
    onClose: (code: number) => void,
  ) {
    super(peer, onClose);
    this.bucket = new AwarenessBucket(ctx.options.awarenessRate);
    void this.open();
  }

  private async open(): Promise<void> {
    const { ctx, name } = this;
    const access = await ctx.authorize(this.user, name);
    if (this.isClosed) return;
    if (!access) {
      this.peer.send(encodePermissionDenied("Not allowed to open this document"));
      return this.close(DocumentCloseCodes.FORBIDDEN, "Not allowed to open this document");
    }
    let doc: LiveDocument;
    try {
      doc = await ctx.registry.acquire(name);
    } catch (error) {
      const reason = error instanceof DocumentUnavailable ? error.message : "Document unavailable";
      return this.close(DocumentCloseCodes.UNAVAILABLE, reason.slice(0, 120));
    }
    if (this.isClosed) return ctx.registry.release(name);
    this.doc = doc;
    this.session = { access, awarenessIds: new Set(), sendRaw: (frame) => this.peer.send(frame), ...frameWriter(ctx, this.peer) };
    doc.sessions.add(this.session);
    this.peer.send(encodeSyncStep1(doc.stateVector()));
    const awareness = doc.awarenessFrame();
    if (awareness) this.peer.send(awareness);
    const early = this.early!;
    this.early = undefined;
    for (const data of early) {
      if (this.isClosed) break;
      this.handle(data);
    }
  }

  receive(data: Uint8Array): void {
    if (this.isClosed) return;
    if (this.early) {
      if (this.early.length >= MAX_EARLY_MESSAGES)
        return this.close(DocumentCloseCodes.UNAVAILABLE, "Too many messages before the document loaded");
      // Copied: some runtimes reuse the buffer once the handler returns.
      this.early.push(data.slice());
      return;
    }
    this.handle(data);
  }

  private handle(data: Uint8Array): void {
    const doc = this.doc!;
    const session = this.session!;
    let outcome: ReturnType<typeof handleSyncMessage>;
    try {
      const message = readSyncMessage(decoding.createDecoder(data));
      outcome = handleSyncMessage(this.ctx, doc, session, this.bucket, message, (frame) => this.peer.send(frame));
    } catch (error) {
      if (error instanceof MalformedMessage) return this.close(DocumentCloseCodes.MALFORMED, `Malformed message: ${error.message}`);
      this.ctx.report(error);
      return this.close(DocumentCloseCodes.MALFORMED, "Message could not be applied");
    }
    if (outcome === "read-only") {
      if (!this.toldReadOnly) this.peer.send(encodePermissionDenied("Read-only: your changes to this document are not saved"));
      this.toldReadOnly = true;
    } else if (outcome) this.close(outcome.code, outcome.reason);
  }

  protected leaveAll(): void {
    this.early = undefined;
    if (this.doc && this.session) {
      this.doc.leave(this.session);
      this.ctx.registry.release(this.name);
    }
  }
}
