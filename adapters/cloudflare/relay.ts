import type { OnError } from "../../src/errors.ts";
import { exceedsBytes } from "../../src/util/json.ts";
import { webSocketOf, type WorkerSocket } from "./shapes.ts";

export interface RelayDeps {
  /** Opens a socket to the object of `room` (undefined: the lobby object); the refusal when it did not upgrade. */
  connect(room: string | undefined): Promise<Response>;
  /** The room of a frame that is a valid `join_room`, else undefined. */
  joinTarget(raw: string): string | undefined;
  maxPayload: number;
  report: OnError;
}

/** The socket to one room's object, the frames waiting for it to open, and its frames waiting for the previous room's to end. */
interface Upstream {
  room: string | undefined;
  socket?: WorkerSocket;
  queue: string[];
  /** Replaced by another room's: close it once its queue went out; it still relays until it closed. */
  dropped: boolean;
  /** Frames from this object held until the previous object's socket closed, so the client gets them in order. */
  inbox: string[] | undefined;
  /** Resolves once this socket closed (or never opened). */
  done: Promise<void>;
  end(): void;
}

/** Close codes a server may send (1005, 1006 and 1015 are only ever reported). */
export const sendableCode = (code: number) =>
  code === 1000 || (code >= 1001 && code <= 1014 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999) ? code : 1011;

/** An object that refused the relay's upgrade, as a close code the client understands (the HTTP status mirrored in 4xxx). */
function refusalCode(status: number): number {
  if (status === 401 || status === 403) return 4000 + status;
  if (status === 503) return 1013; // try again later
  return 1011;
}

const decoder = new TextDecoder();
const text = (data: string | ArrayBuffer) => (typeof data === "string" ? data : decoder.decode(data));

/**
 * Serves a client that did not name its room in the URL (the upstream one-room flow, and clients that
 * move between rooms on one socket). The Worker holds the client's socket and one socket to the object
 * of the room the client is in, and copies frames both ways unchanged. Each valid `join_room` for another
 * room closes the socket to the old room's object (which tells its room the member left) and opens one to
 * the new room's, where the `join_room` is then handled; frames before any join go to the lobby object,
 * which answers them as any server would (`NOT_IN_ROOM`, `INVALID_JSON`…). A close from the object
 * (rate limit, `maxPayload`, token expiry) reaches the client with its code.
 *
 * The Worker stays in the path for the socket's life: such a client costs Worker time on every frame,
 * where a client connecting with `?room=` costs nothing while its room is idle (docs/cloudflare.md).
 */
export function startRelay(client: WorkerSocket, deps: RelayDeps): void {
  new Relay(client, deps).listen();
}

/** One relayed client: its socket, the upstream of the room it is in, and whether it ended. */
class Relay {
  private readonly client: WorkerSocket;
  private readonly deps: RelayDeps;
  private current: Upstream | undefined;
  private finished = false;

  constructor(client: WorkerSocket, deps: RelayDeps) {
    this.client = client;
    this.deps = deps;
  }

  listen(): void {
    const { client, deps } = this;
    client.accept();
    client.addEventListener("message", ({ data }) => {
      if (this.finished) return;
      const raw = text(data);
      if (deps.maxPayload > 0 && exceedsBytes(raw, deps.maxPayload)) return this.finish(1009, `Frame larger than ${deps.maxPayload} bytes`);
      // Only a frame that names join_room is parsed here; every other one passes as it came.
      const target = raw.includes("join_room") ? deps.joinTarget(raw) : undefined;
      const current = this.current;
      const up = !current || (target !== undefined && target !== current.room) ? this.open(target) : current;
      if (up.socket) up.socket.send(raw);
      else up.queue.push(raw);
    });
    client.addEventListener("close", ({ code, reason }) => {
      const wasFinished = this.finished;
      this.finished = true;
      this.drop(this.current);
      if (!wasFinished) {
        try {
          client.close(code === 1005 || code === 1006 ? 1000 : sendableCode(code), reason);
        } catch {}
      }
    });
    client.addEventListener("error", () => {
      this.finished = true;
      this.drop(this.current);
    });
  }

  private finish(code: number, reason: string): void {
    if (this.finished) return;
    this.finished = true;
    this.drop(this.current);
    try {
      this.client.close(sendableCode(code), reason);
    } catch {}
  }

  /** Leave `up`'s room: its socket closes once the frames sent before went out, and relays their answers until then. */
  private drop(up: Upstream | undefined): void {
    if (!up || up.dropped) return;
    up.dropped = true;
    if (!up.socket) return; // closed as soon as it opens
    try {
      up.socket.close(1000, "Left the room");
    } catch {}
  }

  private toClient(frame: string): void {
    if (this.finished) return;
    try {
      this.client.send(frame);
    } catch {}
  }

  /** Move to `room`'s object: the previous upstream is dropped, and this one's frames wait until it closed. */
  private open(room: string | undefined): Upstream {
    const previous = this.current;
    this.drop(previous);
    let end = () => {};
    const done = new Promise<void>((resolve) => (end = resolve));
    const up: Upstream = { room, queue: [], dropped: false, inbox: previous ? [] : undefined, done, end };
    this.current = up;
    void previous?.done.then(() => {
      const held = up.inbox ?? [];
      up.inbox = undefined;
      for (const frame of held) this.toClient(frame);
    });
    this.deps.connect(room).then(
      (response) => this.connected(up, response),
      (error) => {
        up.end();
        this.deps.report(error, { stage: "socket" });
        if (up === this.current) this.finish(1011, "Room unavailable");
      },
    );
    return up;
  }

  /** The object answered `up`'s upgrade: relay its socket, or pass its refusal on. */
  private connected(up: Upstream, response: Response): void {
    const socket = webSocketOf(response);
    if (!socket) {
      up.end();
      if (up === this.current) this.finish(refusalCode(response.status), response.statusText || "Refused by the room");
      return;
    }
    socket.accept();
    up.socket = socket;
    socket.addEventListener("message", ({ data }) => {
      if (up.inbox) up.inbox.push(text(data));
      else this.toClient(text(data));
    });
    socket.addEventListener("close", ({ code, reason }) => {
      up.end();
      if (up === this.current && !up.dropped) this.finish(code, reason);
    });
    socket.addEventListener("error", () => {
      up.end();
      if (up === this.current && !up.dropped) this.finish(1011, "Room connection failed");
    });
    for (const frame of up.queue) socket.send(frame);
    up.queue = [];
    if (up.dropped || this.finished) socket.close(1000, "Left the room");
  }
}
