/**
 * Deno's front door: `Deno.serve` has no header timeout, and `Deno.upgradeWebSocket` reassembles a
 * fragmented message of any size and accepts unmasked client frames before JavaScript sees anything. So
 * the Deno `createServer` listens with `Deno.listen` and relays every connection to its `Deno.serve` on a
 * loopback port, checking on the way:
 * - each request head must arrive within `headersTimeoutMs` (counted from the accept, then from the end of
 *   the previous response on a kept-alive connection) and its body within `requestTimeoutMs`; a response
 *   has no time limit (downloads, server-sent events, long polls). Bodies are followed, not buffered
 *   (http-body.ts), so each request's head is timed and keep-alive works as with `Deno.serve` alone;
 * - after the 101, every client frame against RFC 6455 and `maxPayload` (client-reader.ts, one parser that
 *   also hands the live endpoint's messages to the engine): a refused frame closes the connection with
 *   1002, 1007 or 1009, as Node does, after the frames before it were taken;
 * - a client with a write to it waiting longer than `stallTimeoutMs` is disconnected (one that pings and
 *   never reads would otherwise keep Deno answering into a full socket forever).
 * - at most `upgradeSlots` upgrade requests wait inside `Deno.serve` for its handler; the others wait in the
 *   front (upgrade-gate.ts), their head timer stopped, at most `upgradeQueue` of them (then 503).
 * Backpressure holds: a relay waits for each write. Requests from
 * the front reach `Deno.serve` from 127.0.0.1; `clientOf` maps their loopback port to the real client.
 */
import { closeFrame } from "../../shared/ws-frame.ts";
import { ClientReader } from "./client-reader.ts";
import { ClientWriter } from "./client-writer.ts";
import { closesAfter, relayBody, requestFraming, responseFraming } from "./http-body.ts";
import { latin1, readHead, Source } from "./http-head.ts";
import { type GateTicket, UpgradeGate } from "./upgrade-gate.ts";
import { type Conn, discard, FROM_CLIENT, FROM_DENO_WS, type NetAddr, pipe, sleep, writeAll } from "./conn-io.ts";

export type { NetAddr };

interface Listener extends AsyncIterable<Conn> {
  readonly addr: NetAddr;
  close(): void;
}
declare const Deno: {
  listen(options: { port: number; hostname?: string }): Listener;
  connect(options: { port: number; hostname: string }): Promise<Conn>;
};

export interface FrontOptions {
  port: number;
  hostname?: string;
  /** The loopback port of the `Deno.serve` behind. */
  target: number;
  /** A request head must be complete this long after the connection was accepted or the last response ended. */
  headersTimeoutMs: number;
  /** A request's body must be complete this long after its head (0: no limit). Responses have none. */
  requestTimeoutMs: number;
  maxPayload: number;
  /** A larger bound for upgrades to other paths (the documents' `maxMessageBytes` under their path). */
  payloadFor?: (pathname: string) => number | undefined;
  /** A client that has not taken a write for this long is disconnected (0: never). */
  stallTimeoutMs: number;
  /** Upgrade requests handed to `Deno.serve` whose handler has not started, at most (0: no bound). */
  upgradeSlots: number;
  /** Upgrade requests waiting in the front for a slot, at most; the next one is answered 503. */
  upgradeQueue: number;
}

/** One relayed connection: how to end it, and its client's writes (their stall time). */
interface Relay {
  end(): void;
  writer: ClientWriter;
}

/** A client of the front, as `Deno.serve` sees it (by the loopback port the front connected from). */
export interface FrontClient {
  addr: NetAddr;
  /** Writes to the client: the front's fan-out sends engine frames here (see client-writer.ts). */
  writer: ClientWriter;
  /** Reads the client's frames after the 101: messages for the engine are taken here (client-reader.ts). */
  reader: ClientReader;
  /** `Deno.serve`'s handler has the request: its upgrade slot goes to the next one (upgrade-gate.ts). */
  pickedUp(): void;
}

export interface Front {
  readonly port: number;
  /** The client behind a connection `Deno.serve` got from the front (by its loopback port). */
  clientOf(loopbackPort: number): FrontClient | undefined;
  close(): void;
}

const encoder = new TextEncoder();

export function listenFront(options: FrontOptions): Front {
  const listener = Deno.listen({ port: options.port, hostname: options.hostname });
  const clients = new Map<number, FrontClient>();
  const open = new Set<Relay>();
  const gate = new UpgradeGate(options.upgradeSlots, options.upgradeQueue);
  // A client that pings and never reads keeps Deno answering into a full socket; nothing else would end it.
  const sweep =
    options.stallTimeoutMs > 0
      ? setInterval(
          () => {
            const before = Date.now() - options.stallTimeoutMs;
            for (const relay of open) {
              const since = relay.writer.stalledSince;
              if (since !== 0 && since < before) relay.end();
            }
          },
          Math.min(1000, options.stallTimeoutMs),
        )
      : undefined;
  void (async () => {
    try {
      for await (const conn of listener) void relay(conn, options, clients, open, gate);
    } catch {
      // the listener was closed
    }
  })();
  return {
    port: listener.addr.port,
    clientOf: (port) => clients.get(port),
    close() {
      clearInterval(sweep);
      listener.close();
      for (const relay of open) relay.end();
    },
  };
}

async function relay(client: Conn, options: FrontOptions, clients: Map<number, FrontClient>, open: Set<Relay>, gate: UpgradeGate) {
  let upstream: Conn | undefined;
  /** This connection's upgrade request's place while `Deno.serve` has not picked it up. */
  let ticket: GateTicket | undefined;
  const pickedUp = () => ticket?.release();
  let ended = false;
  const writer = new ClientWriter(client, () => end());
  const state: Relay = { end: () => end(), writer };
  let reader: ClientReader | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** The connection ends in `ms` unless this is called again first (0: no limit). */
  const deadline = (ms: number) => {
    clearTimeout(timer);
    timer = ms > 0 ? setTimeout(end, ms) : undefined;
  };
  const end = () => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    writer.close();
    reader?.close();
    pickedUp();
    open.delete(state);
    if (upstream) clients.delete(upstream.localAddr.port);
    for (const conn of [client, upstream]) {
      try {
        conn?.close();
      } catch {
        // already closed
      }
    }
  };
  open.add(state);
  deadline(options.headersTimeoutMs);
  try {
    client.setNoDelay?.(true);
    const fromClient = new Source(client);
    let fromDeno: Source | undefined;
    for (;;) {
      const request = await readHead(fromClient);
      if (!request || ended) return end();
      if (request.head === undefined) return await refuse(client, "431 Request Header Fields Too Large", end);
      fromClient.unread(request.rest);
      if (upgradesToWebSocket(latin1(request.head))) {
        // The head is in: no head timeout while the upgrade waits in the front's own queue.
        deadline(0);
        ticket = gate.take();
        if (!ticket) return await refuse(client, "503 Service Unavailable", end);
        if (!(await ticket.ready) || ended) return end();
      }
      if (!upstream) {
        upstream = await Deno.connect({ hostname: "127.0.0.1", port: options.target });
        if (ended) return end();
        upstream.setNoDelay?.(true);
        const to = upstream;
        fromDeno = new Source(upstream);
        reader = new ClientReader(options.maxPayload, (bytes) => writeAll(to, bytes));
        clients.set(upstream.localAddr.port, { addr: client.remoteAddr, writer, reader, pickedUp });
      }
      // The bound of the path this request upgrades to (documents have their own).
      reader!.maxPayload = options.payloadFor?.(requestPath(request.head)) ?? options.maxPayload;
      const link = { client, upstream, fromClient, fromDeno: fromDeno!, writer, reader: reader!, deadline, pickedUp };
      const next = await exchange(link, request.head, options);
      if (next === "end") break;
      if (next === "refuse") return await refuse(client, "400 Bad Request", end);
      // Kept alive: the next request head has the same time as the first, from now.
      deadline(options.headersTimeoutMs);
    }
  } catch {
    // a reset or a write to a closed socket: the relay ends
  }
  end();
}

/** Answers `status` itself and ends the connection. */
async function refuse(client: Conn, status: string, end: () => void) {
  await writeAll(client, encoder.encode(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`));
  // Read what the client still sends (a while, a little) so closing does not reset the answer away.
  await Promise.race([discard(client, 1 << 20), sleep(1000)]);
  end();
}

/** One relayed connection after its request head was read. */
interface Link {
  client: Conn;
  upstream: Conn;
  fromClient: Source;
  fromDeno: Source;
  writer: ClientWriter;
  reader: ClientReader;
  deadline(ms: number): void;
  /** Gives the upgrade's slot back (if `Deno.serve`'s handler did not already). */
  pickedUp(): void;
}

/**
 * Relays one request and its response; a 101 turns the connection into a WebSocket for good. "again":
 * the connection is kept alive for another request.
 */
async function exchange(link: Link, head: Uint8Array, options: FrontOptions): Promise<"again" | "end" | "refuse"> {
  const { upstream, fromClient, fromDeno, writer } = link;
  const text = latin1(head);
  const framing = requestFraming(text);
  if (framing === undefined) return "refuse";
  const startLine = text.slice(0, text.indexOf("\r\n"));
  const method = startLine.slice(0, startLine.indexOf(" "));
  // All writes to the client go through its writer, so no frame can land inside another.
  const toClient = (bytes: Uint8Array) => writer.relay(bytes);
  const toUpstream = (bytes: Uint8Array) => writeAll(upstream, bytes);
  // The request's body has `requestTimeoutMs` from the end of its head; the response has no limit.
  link.deadline(options.requestTimeoutMs);
  await toUpstream(head);
  const sent = relayBody(fromClient, framing, toUpstream).then(
    (whole) => {
      if (whole) link.deadline(0);
      return whole;
    },
    () => false,
  );
  for (;;) {
    const response = await readHead(fromDeno);
    if (!response?.head) return "end";
    link.pickedUp(); // answered: whatever the handler did, the request no longer waits in Deno.serve
    fromDeno.unread(response.rest);
    const responseText = latin1(response.head);
    const statusLine = responseText.slice(0, responseText.indexOf("\r\n"));
    if (upgradesToWebSocket(text) && responseText.startsWith("HTTP/1.1 101")) {
      link.deadline(0);
      await writer.upgrade(response.head, fromDeno.takePending());
      await websocket(link);
      return "end";
    }
    await toClient(response.head);
    const responseFrames = responseFraming(responseText, method);
    // 1xx (100 Continue, 103 Early Hints): the final response follows.
    if (Number(responseText.slice(9, 12)) < 200) continue;
    if (!(await relayBody(fromDeno, responseFrames, toClient)) || responseFrames === "close") return "end";
    // Answered with `Connection: close` (a 401 before the body was read): the rest of the body is not read.
    if (closesAfter(responseText, statusLine) || closesAfter(text, startLine)) return "end";
    return (await sent) ? "again" : "end";
  }
}

/** Relays a WebSocket connection after the 101 until either side ends or the client's reader refuses a frame. */
async function websocket({ client, upstream, fromClient, writer, reader }: Link) {
  const toClient = (bytes: Uint8Array) => writer.relay(bytes);
  const toReader = (bytes: Uint8Array) => reader.feed(bytes);
  const refused = () => reader.failed !== undefined;
  await Promise.race([pipe(upstream, toClient, FROM_DENO_WS), pipe(client, toReader, FROM_CLIENT, fromClient.takePending(), refused)]);
  if (reader.failed === undefined) return;
  upstream.close(); // Deno drops the partial message now
  // Deno's last frame may be cut by that close: the client gets the close frame only at a frame boundary.
  if (writer.atBoundary) await Promise.race([toClient(closeFrame(reader.failed)), sleep(1000)]);
  // Closing with unread bytes would send a reset, which can overtake the close frame: read them first.
  await Promise.race([discard(client, 1 << 20), sleep(1000)]);
}

/** Whether a request head asks for a WebSocket. */
function upgradesToWebSocket(head: string): boolean {
  return /^upgrade:[ \t]*websocket[ \t]*$/im.test(head);
}

/** The path of a request head's first line (`GET /yjs/doc?token=… HTTP/1.1` → `/yjs/doc`). */
function requestPath(head: Uint8Array): string {
  const line = latin1(head.subarray(0, Math.min(head.byteLength, 2048))).split("\r\n", 1)[0] ?? "";
  const target = line.split(" ")[1] ?? "/";
  const q = target.indexOf("?");
  return q === -1 ? target : target.slice(0, q);
}
