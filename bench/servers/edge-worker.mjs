// The Worker bench/edge.mjs serves on local workerd: the built Cloudflare entry with the bench options
// the other "ours" servers use (no rate limit, no chat history, presence throttled at 100 ms).
import { createLiveWorker } from "@openlivesync/server/cloudflare";

// STREAMS=off (a binding): room streams off, to show what keeping each message in the object's SQLite costs.
const live = createLiveWorker((env) => ({
  rateLimit: false,
  chat: { historyLimit: 0 },
  presenceThrottleMs: 100,
  ...(env.STREAMS === "off" ? { streams: false } : {}),
}));
export const LiveRoom = live.Room;
export default live;
