/**
 * The front's bound on upgrades waiting inside `Deno.serve`. Requests queued there run back to back on the
 * one event loop; thousands of upgrades at once (every client reconnecting after a deploy) starve the
 * front's accepts and reads for as long as that queue's CPU time, and the front's head timeout then cuts
 * clients whose heads it had no chance to read (bench/README.md, issue 27). So at most `slots` upgrade
 * requests are handed to `Deno.serve` whose handler has not started yet; a slot is given back as soon as
 * the handler sees the request (a slow asynchronous `onAuth` holds none), or when a response comes or the
 * connection ends without that. The others wait in the front, at most `queueLimit` of them, in order.
 */

/** One upgrade's place: `ready` says true when it may be handed on, false when it was released first. */
export interface GateTicket {
  readonly ready: Promise<boolean>;
  /** Gives the slot back (or leaves the queue). Calling it again does nothing. */
  release(): void;
}

export class UpgradeGate {
  #handed = 0;
  /** Waiting tickets, oldest first (a Set keeps insertion order and removes in O(1)). */
  readonly #queue = new Set<(granted: boolean) => void>();

  /** `slots` 0: no bound (every upgrade is handed on at once). */
  constructor(
    readonly slots: number,
    readonly queueLimit: number,
  ) {}

  /** Upgrades handed to `Deno.serve` whose handler has not started. */
  get handed(): number {
    return this.#handed;
  }
  /** Upgrades waiting in the front. */
  get queued(): number {
    return this.#queue.size;
  }

  /** A place for one upgrade request, or undefined when the queue is full (the front answers 503). */
  take(): GateTicket | undefined {
    if (this.slots === 0 || this.#handed < this.slots) return this.#holding();
    if (this.#queue.size >= this.queueLimit) return undefined;
    let state: "queued" | "holding" | "released" = "queued";
    let settle!: (granted: boolean) => void;
    const ready = new Promise<boolean>((resolve) => {
      settle = (granted) => {
        this.#queue.delete(settle);
        state = granted ? "holding" : "released";
        resolve(granted);
      };
    });
    this.#queue.add(settle);
    return {
      ready,
      release: () => {
        if (state === "queued") settle(false);
        else if (state === "holding") {
          state = "released";
          this.#giveBack();
        }
      },
    };
  }

  #holding(): GateTicket {
    this.#handed++;
    let held = true;
    return {
      ready: Promise.resolve(true),
      release: () => {
        if (!held) return;
        held = false;
        this.#giveBack();
      },
    };
  }

  /** A slot came free: the oldest waiting upgrade takes it, or it is free. */
  #giveBack() {
    const next = this.#queue.values().next();
    if (next.done) this.#handed--;
    else next.value(true); // the slot passes on: `handed` stays
  }
}
