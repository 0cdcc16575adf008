import type { WebhookDelivery } from "./delivery.ts";

/**
 * One room's events, oldest first. Only the head is ever sent, so a room's events reach the receiver in
 * the order they happened. `state` is where the lane is: `idle` (empty, about to be forgotten), `ready`
 * (in the ready list), `busy` (its head is being POSTed) or `waiting` (its head failed; a retry is armed).
 */
export interface Lane {
  roomId: string;
  events: WebhookDelivery[];
  state: "idle" | "ready" | "busy" | "waiting";
  /** The armed retry, while `waiting`. */
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * The bounded queue of every event not yet delivered, kept as one lane per room plus the list of lanes
 * whose head may be sent now (first come, first served across rooms). It owns the invariant "an event is
 * counted in `size`/`bytes` from `push` until `finish`"; `push` refuses what does not fit.
 */
export class WebhookQueue {
  private readonly lanes = new Map<string, Lane>();
  private readonly ready: Lane[] = [];
  /** Waiting lanes whose head got no HTTP answer (unreachable, timeout): a delivery elsewhere may wake them early. */
  private readonly unreachable = new Set<Lane>();
  size = 0;
  bytes = 0;

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {}

  /** Whether one more event of `bytes` would fit. */
  fits(bytes: number): boolean {
    return this.size < this.maxEvents && this.bytes + bytes <= this.maxBytes;
  }

  /** At or below half of both bounds: an overflow is over (half, so one freed slot does not start another). */
  get belowHalf(): boolean {
    return this.size <= this.maxEvents / 2 && this.bytes <= this.maxBytes / 2;
  }

  /** Adds `delivery` at the end of its room's lane; false (nothing added) when it does not fit. */
  push(delivery: WebhookDelivery): boolean {
    if (!this.fits(delivery.body.length)) return false;
    let lane = this.lanes.get(delivery.roomId);
    if (!lane) this.lanes.set(delivery.roomId, (lane = { roomId: delivery.roomId, events: [], state: "idle" }));
    lane.events.push(delivery);
    this.size++;
    this.bytes += delivery.body.length;
    if (lane.state === "idle") this.markReady(lane);
    return true;
  }

  /** The next lane whose head may be sent, now `busy`; undefined when none is ready. */
  take(): Lane | undefined {
    const lane = this.ready.shift();
    if (lane) lane.state = "busy";
    return lane;
  }

  /** The busy lane's head is done with (delivered or given up): the lane is ready again, or forgotten. */
  finish(lane: Lane): void {
    const done = lane.events.shift();
    if (done) {
      this.size--;
      this.bytes -= done.body.length;
    }
    if (lane.events.length > 0) this.markReady(lane);
    else {
      lane.state = "idle";
      this.lanes.delete(lane.roomId);
    }
  }

  /** The busy lane's head failed and will be retried when its timer calls {@link wake}. */
  wait(lane: Lane, timer: ReturnType<typeof setTimeout>, unreachable: boolean): void {
    lane.state = "waiting";
    lane.timer = timer;
    if (unreachable) this.unreachable.add(lane);
  }

  /** A waiting lane may retry now (its timer fired, or it is woken early: its timer is cleared). */
  wake(lane: Lane): void {
    if (lane.state !== "waiting") return;
    clearTimeout(lane.timer);
    lane.timer = undefined;
    this.unreachable.delete(lane);
    this.markReady(lane);
  }

  /** Wakes every waiting lane (`unreachableOnly`: those whose head found no receiver); returns how many. */
  wakeAll(unreachableOnly: boolean): number {
    const lanes = unreachableOnly ? [...this.unreachable] : [...this.lanes.values()].filter((lane) => lane.state === "waiting");
    for (const lane of lanes) this.wake(lane);
    return lanes.length;
  }

  /** Forgets everything (close gave up); returns how many events were dropped. */
  clear(): number {
    const left = this.size;
    for (const lane of this.lanes.values()) clearTimeout(lane.timer);
    this.lanes.clear();
    this.unreachable.clear();
    this.ready.length = 0;
    this.size = 0;
    this.bytes = 0;
    return left;
  }

  private markReady(lane: Lane): void {
    lane.state = "ready";
    this.ready.push(lane);
  }
}
