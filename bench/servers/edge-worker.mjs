// The Worker bench/edge.mjs serves on local workerd: the built Cloudflare entry with the bench options
// the other "ours" servers use (no rate limit, no chat history, presence throttled at 100 ms).
import { createLiveWorker } from "@openlivesync/server/cloudflare";

const live = createLiveWorker({ rateLimit: false, chat: { historyLimit: 0 }, presenceThrottleMs: 100 });
export const LiveRoom = live.Room;
export default live;
