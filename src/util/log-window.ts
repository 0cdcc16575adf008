import { backgroundTimeout } from "./async.ts";

/** How long a window of repeated reports lasts. */
export const LOG_WINDOW_MS = 60_000;

/**
 * At most one line per key and window: the first occurrence after a quiet window is said at once
 * (`first` returns true), the others of the window are the caller's to count and `summarize(key)` is
 * called when the window ends; windows follow each other while occurrences go on, and a window with none
 * ends the run. A flood (a storage outage, a hostile client, a refused browser) costs one line a minute.
 * @example
 * const window = createLogWindow((key) => console.error(`${key}: ${counts.get(key)} more`));
 * if (window.first("storage")) console.error("storage failed"); else counts.set("storage", n + 1);
 */
export function createLogWindow(summarize: (key: string) => void, windowMs = LOG_WINDOW_MS) {
  /** Keys with a window open, and whether something happened in it since it opened. */
  const open = new Map<string, { timer: ReturnType<typeof setTimeout>; pending: boolean }>();

  const close = (key: string) => {
    const window = open.get(key);
    if (!window) return;
    if (!window.pending) {
      open.delete(key);
      return;
    }
    window.pending = false;
    window.timer = backgroundTimeout(() => close(key), windowMs);
    summarize(key);
  };

  return {
    /** Record one occurrence of `key`: true when it is the first of its window (say it now). */
    first(key: string): boolean {
      const window = open.get(key);
      if (window) {
        window.pending = true;
        return false;
      }
      open.set(key, { timer: backgroundTimeout(() => close(key), windowMs), pending: false });
      return true;
    },
    /** Stop every window; what is pending is summarized now. */
    stop(): void {
      for (const [key, window] of [...open]) {
        clearTimeout(window.timer);
        open.delete(key);
        if (window.pending) summarize(key);
      }
    },
  };
}
