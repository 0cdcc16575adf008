// Minimal WebSocket clients for the load generator. Both deliver every text frame as (buf, start, end).
//  - "raw": a hand-rolled RFC 6455 client on node:net. Parses unmasked server frames in place without
//    creating strings, answers pings, masks outgoing frames with a zero key. Cheap enough that one
//    load process can take more than a million deliveries/s.
//  - "ws": the `ws` package, for cross-checking the raw client.
import { connect as netConnect } from "node:net";
import { randomBytes } from "node:crypto";
import WebSocket from "ws";

/**
 * `socketPath` (raw clients only): connect to this Unix socket instead of host:port.
 * @param {{ host: string, port: number, path: string, kind?: "raw" | "ws", socketPath?: string,
 *   onFrame: (buf: Buffer, start: number, end: number) => void, onBatch?: () => void,
 *   onClose?: (code: number, reason: string) => void }} opts
 * @returns {Promise<{ send(text: string): void, sendMany(texts: string[]): void, close(): void, destroy(): void }>}
 */
export function openClient(opts) {
  return opts.kind === "ws" ? openWs(opts) : openRaw(opts);
}

function openWs({ host, port, path, onFrame, onBatch, onClose }) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${host}:${port}${path}`, { perMessageDeflate: false });
    let open = false;
    ws.on("message", (data) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      onFrame(buf, 0, buf.length);
      onBatch?.();
    });
    ws.on("open", () => {
      open = true;
      resolve({
        send: (text) => ws.send(text),
        sendMany: (texts) => {
          for (const t of texts) ws.send(t);
        },
        close: () => ws.close(1000),
        destroy: () => ws.terminate(),
      });
    });
    ws.on("error", (err) => {
      if (!open) reject(err);
    });
    ws.on("close", (code, reason) => onClose?.(code, String(reason)));
  });
}

const ZERO_MASK = Buffer.alloc(4);

/** A masked client frame (zero key, so the payload goes out as is). */
function clientFrame(opcode, payload) {
  const len = payload.length;
  const head = len < 126 ? 6 : len < 65536 ? 8 : 14;
  const frame = Buffer.allocUnsafe(head + len);
  frame[0] = 0x80 | opcode;
  if (len < 126) frame[1] = 0x80 | len;
  else if (len < 65536) (frame[1] = 0x80 | 126), frame.writeUInt16BE(len, 2);
  else (frame[1] = 0x80 | 127), frame.writeUInt32BE(Math.floor(len / 2 ** 32), 2), frame.writeUInt32BE(len >>> 0, 6);
  ZERO_MASK.copy(frame, head - 4);
  payload.copy(frame, head);
  return frame;
}

function openRaw({ host, port, path, socketPath, onFrame, onBatch, onClose }) {
  return new Promise((resolve, reject) => {
    const socket = socketPath ? netConnect({ path: socketPath }) : netConnect({ host, port, noDelay: true });
    const key = randomBytes(16).toString("base64");
    let handshaken = false;
    let rest = null; // unparsed bytes
    let closed = false;
    const finish = (code, reason) => {
      if (closed) return;
      closed = true;
      onClose?.(code, reason);
    };
    const api = {
      send(text) {
        if (!socket.destroyed) socket.write(clientFrame(1, Buffer.from(text)));
      },
      sendMany(texts) {
        if (socket.destroyed || texts.length === 0) return;
        socket.write(
          texts.length === 1 ? clientFrame(1, Buffer.from(texts[0])) : Buffer.concat(texts.map((t) => clientFrame(1, Buffer.from(t)))),
        );
      },
      close() {
        if (!socket.destroyed) socket.end(clientFrame(8, Buffer.from([0x03, 0xe8])));
      },
      destroy() {
        socket.destroy();
      },
    };
    socket.on("connect", () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on("data", (chunk) => {
      const buf = rest === null ? chunk : Buffer.concat([rest, chunk]);
      let off = 0;
      if (!handshaken) {
        const end = buf.indexOf("\r\n\r\n");
        if (end === -1) return void (rest = buf);
        const head = buf.toString("latin1", 0, end);
        if (!head.startsWith("HTTP/1.1 101")) {
          socket.destroy();
          return reject(new Error(`upgrade refused: ${head.split("\r\n")[0]}`));
        }
        handshaken = true;
        off = end + 4;
        resolve(api);
      }
      const n = buf.length;
      while (n - off >= 2) {
        const b0 = buf[off];
        let len = buf[off + 1] & 0x7f;
        let hdr = 2;
        if (len === 126) {
          if (n - off < 4) break;
          len = buf.readUInt16BE(off + 2);
          hdr = 4;
        } else if (len === 127) {
          if (n - off < 10) break;
          len = buf.readUInt32BE(off + 2) * 2 ** 32 + buf.readUInt32BE(off + 6);
          hdr = 10;
        }
        if (n - off < hdr + len) break;
        const start = off + hdr;
        const end = start + len;
        const opcode = b0 & 0x0f;
        if ((b0 & 0x80) === 0) throw new Error("fragmented frames are not supported by the bench client");
        if (opcode === 1 || opcode === 2) onFrame(buf, start, end);
        else if (opcode === 9) socket.write(clientFrame(10, buf.subarray(start, end)));
        else if (opcode === 8) {
          const code = len >= 2 ? buf.readUInt16BE(start) : 1005;
          finish(code, buf.toString("utf8", start + 2, end));
          socket.end();
        }
        off = end;
      }
      rest = off < n ? Buffer.from(buf.subarray(off)) : null;
      onBatch?.();
    });
    socket.on("error", (err) => {
      if (!handshaken) reject(err);
    });
    socket.on("close", () => {
      if (!handshaken) reject(new Error("socket closed before the upgrade"));
      finish(1006, "");
    });
  });
}
