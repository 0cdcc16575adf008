/**
 * The y-websocket message format (y-protocols' sync and awareness, framed by a leading message type),
 * which the Hocuspocus protocol reuses after its document name. Every incoming message is read whole and
 * checked before anything in it is applied, so a malformed one touches no document.
 */
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import * as Y from "yjs";

export const MessageType = { SYNC: 0, AWARENESS: 1, AUTH: 2, QUERY_AWARENESS: 3 } as const;
export const SyncType = { STEP1: 0, STEP2: 1, UPDATE: 2 } as const;

/** An incoming message, read and checked. */
export type SyncMessage =
  | { type: "step1"; stateVector: Uint8Array }
  | { type: "update"; update: Uint8Array; step2: boolean }
  | { type: "awareness"; update: Uint8Array }
  | { type: "query-awareness" };

/** The message could not be read; nothing in it was applied. */
export class MalformedMessage extends Error {}

function readAll<T>(decoder: decoding.Decoder, read: () => T): T {
  let value: T;
  try {
    value = read();
  } catch (cause) {
    throw new MalformedMessage("truncated or invalid message", { cause });
  }
  if (decoding.hasContent(decoder)) throw new MalformedMessage("trailing bytes after the message");
  return value;
}

/** Checks that `update` is a whole Yjs update (structs and delete set) without applying it. */
export function checkUpdate(update: Uint8Array): void {
  try {
    Y.decodeUpdate(update);
  } catch (cause) {
    throw new MalformedMessage("not a Yjs update", { cause });
  }
}

/**
 * Checks an awareness update the way `applyAwarenessUpdate` reads it, JSON states included; returns the
 * client ids it gives a state (not null).
 */
export function checkAwareness(update: Uint8Array): number[] {
  try {
    const decoder = decoding.createDecoder(update);
    const count = decoding.readVarUint(decoder);
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      const id = decoding.readVarUint(decoder);
      decoding.readVarUint(decoder);
      if (JSON.parse(decoding.readVarString(decoder)) !== null) ids.push(id);
    }
    if (decoding.hasContent(decoder)) throw new Error("trailing bytes");
    return ids;
  } catch (cause) {
    throw new MalformedMessage("not an awareness update", { cause });
  }
}

/** Reads one message from `decoder` (positioned after any Hocuspocus name); throws {@link MalformedMessage}. */
export function readSyncMessage(decoder: decoding.Decoder): SyncMessage {
  let type: number;
  try {
    type = decoding.readVarUint(decoder);
  } catch (cause) {
    throw new MalformedMessage("empty message", { cause });
  }
  return readMessageBody(type, decoder);
}

/** The rest of a message of `type` (sync, awareness or query-awareness). */
export function readMessageBody(type: number, decoder: decoding.Decoder): SyncMessage {
  switch (type) {
    case MessageType.SYNC: {
      const [sub, payload] = readAll(decoder, () => [decoding.readVarUint(decoder), decoding.readVarUint8Array(decoder)] as const);
      if (sub === SyncType.STEP1) {
        try {
          Y.decodeStateVector(payload);
        } catch (cause) {
          throw new MalformedMessage("not a state vector", { cause });
        }
        return { type: "step1", stateVector: payload };
      }
      if (sub === SyncType.STEP2 || sub === SyncType.UPDATE) return { type: "update", update: payload, step2: sub === SyncType.STEP2 };
      throw new MalformedMessage(`unknown sync message ${sub}`);
    }
    case MessageType.AWARENESS:
      return { type: "awareness", update: readAll(decoder, () => decoding.readVarUint8Array(decoder)) };
    case MessageType.QUERY_AWARENESS:
      readAll(decoder, () => undefined);
      return { type: "query-awareness" };
    default:
      throw new MalformedMessage(`unknown message type ${type}`);
  }
}

const frame = (write: (encoder: encoding.Encoder) => void) => {
  const encoder = encoding.createEncoder();
  write(encoder);
  return encoding.toUint8Array(encoder);
};

export const encodeSyncStep1 = (stateVector: Uint8Array) =>
  frame((e) => {
    encoding.writeVarUint(e, MessageType.SYNC);
    encoding.writeVarUint(e, SyncType.STEP1);
    encoding.writeVarUint8Array(e, stateVector);
  });

export const encodeSyncStep2 = (update: Uint8Array) =>
  frame((e) => {
    encoding.writeVarUint(e, MessageType.SYNC);
    encoding.writeVarUint(e, SyncType.STEP2);
    encoding.writeVarUint8Array(e, update);
  });

export const encodeUpdate = (update: Uint8Array) =>
  frame((e) => {
    encoding.writeVarUint(e, MessageType.SYNC);
    encoding.writeVarUint(e, SyncType.UPDATE);
    encoding.writeVarUint8Array(e, update);
  });

export const encodeAwareness = (update: Uint8Array) =>
  frame((e) => {
    encoding.writeVarUint(e, MessageType.AWARENESS);
    encoding.writeVarUint8Array(e, update);
  });

/** y-protocols' auth message "permission denied", which y-websocket's provider logs with `reason`. */
export const encodePermissionDenied = (reason: string) =>
  frame((e) => {
    encoding.writeVarUint(e, MessageType.AUTH);
    encoding.writeVarUint(e, 0);
    encoding.writeVarString(e, reason);
  });
