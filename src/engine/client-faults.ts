import { OpenLiveSyncError, type OnError, safeText } from "../errors.ts";
import { createLogWindow, LOG_WINDOW_MS } from "../util/log-window.ts";

/** Socket-level protocol errors from clients, summed up over a window. */
export class ClientFaultError extends OpenLiveSyncError {
  constructor(message: string) {
    super("CLIENT_FAULT", message);
  }
}

/**
 * A client's fault (an oversized or malformed frame, a reset) is not a server error: each one is
 * counted; the first is reported at once and the rest of the minute in one summary through `onError`
 * (stage `"socket"`), so a hostile client cannot flood the log.
 */
export function createClientFaults(report: OnError) {
  let total = 0;
  let inWindow = 0;
  let last = "";
  const say = () => {
    report(new ClientFaultError(`${inWindow} client socket error(s) in the last ${LOG_WINDOW_MS / 1000} s; the last: ${last}`), {
      stage: "socket",
    });
    inWindow = 0;
  };
  const window = createLogWindow(say);

  return {
    record(error: unknown): void {
      total++;
      inWindow++;
      last = safeText(String((error as Error)?.message ?? error)).slice(0, 200);
      if (window.first("socket")) say();
    },
    get total(): number {
      return total;
    },
    stop(): void {
      window.stop();
    },
  };
}
export type ClientFaults = ReturnType<typeof createClientFaults>;
