import { OpenLiveSyncError, type OnError } from "../errors.ts";
import { backgroundTimeout } from "../util/async.ts";

/** At most one report of client faults per this window. */
const WINDOW_MS = 60_000;

/** Socket-level protocol errors from clients, summed up over a window. */
export class ClientFaultError extends OpenLiveSyncError {
  constructor(message: string) {
    super("CLIENT_FAULT", message);
  }
}

/**
 * A client's fault (an oversized or malformed frame, a reset) is not a server error: each one is
 * counted, and one line sums them up at most once a minute through `onError` (stage `"socket"`),
 * so a hostile client cannot flood the log.
 */
export function createClientFaults(report: OnError) {
  let total = 0;
  let inWindow = 0;
  let last = "";
  let timer: ReturnType<typeof setTimeout> | undefined;

  const flush = () => {
    timer = undefined;
    if (inWindow === 0) return;
    report(new ClientFaultError(`${inWindow} client socket error(s) in the last ${WINDOW_MS / 1000} s; the last: ${last}`), {
      stage: "socket",
    });
    inWindow = 0;
  };

  return {
    record(error: unknown): void {
      total++;
      last = String((error as Error)?.message ?? error).slice(0, 200);
      // The first one is reported at once; the rest of the window's are summed up when it ends.
      if (timer) {
        inWindow++;
        return;
      }
      inWindow = 1;
      flush();
      timer = backgroundTimeout(flush, WINDOW_MS);
    },
    get total(): number {
      return total;
    },
    stop(): void {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
