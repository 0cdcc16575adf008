import * as Y from "yjs";

/**
 * Updates merged 16 at a time. `Y.mergeUpdates` re-sorts its inputs for every struct it writes, so its cost
 * grows with the square of how many it is given: 4,000 keystrokes (a 500 ms write window of 50 editors at
 * 160 Hz) took 190–289 ms in one call, against 16–18 ms merged 16 at a time and the results 16 at a time
 * again (`node bench/merge-window.mjs`; bench/README.md, "Where both saturate: a window's merge").
 */
const FAN_IN = 16;

/** `updates` as one update, merged {@link FAN_IN} at a time (the same document as one `Y.mergeUpdates` call gives). */
export function mergeAll(updates: readonly Uint8Array[]): Uint8Array {
  let list = updates;
  while (list.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < list.length; i += FAN_IN) {
      next.push(list.length - i === 1 ? list[i]! : Y.mergeUpdates(list.slice(i, i + FAN_IN)));
    }
    list = next;
  }
  return list[0] ?? Y.mergeUpdates([]);
}

/**
 * Updates collected until they are taken as one, merged as they arrive ({@link FAN_IN} at a time, then the
 * merged ones {@link FAN_IN} at a time, and so on): each update is merged once per level, about three times
 * for a window of thousands, and taking them does the last merges only.
 */
export class UpdateMerger {
  /** `levels[i]` holds fewer than FAN_IN updates, each merged from FAN_IN ** i of those added. */
  private levels: Uint8Array[][] = [[]];
  private added = 0;

  /** How many updates were added since they were last taken (an update added back counts as its own). */
  get size(): number {
    return this.added;
  }

  /** Add `update`, which stands for `count` updates (more than one when a taken merge is added back). */
  add(update: Uint8Array, count = 1): void {
    this.added += count;
    let level = 0;
    this.levels[0]!.push(update);
    while (this.levels[level]!.length >= FAN_IN) {
      const merged = Y.mergeUpdates(this.levels[level]!);
      this.levels[level] = [];
      (this.levels[++level] ??= []).push(merged);
    }
  }

  /** Everything added since the last take, as one update (undefined when nothing was), and empty again. */
  take(): { update: Uint8Array; count: number } | undefined {
    if (this.added === 0) return undefined;
    const all = this.levels.flat();
    const count = this.added;
    this.levels = [[]];
    this.added = 0;
    return { update: mergeAll(all), count };
  }
}
