// Rooms on Cloudflare: the Worker and the room's Durable Object class. Deploy with `wrangler deploy`
// (wrangler.toml beside this file); try it locally with `npm run dev:cloudflare` (workerd, no account).
import { createLiveWorker, createTokenAuth } from "@openlivesync/server/cloudflare";

const live = createLiveWorker((env) => ({
  // Browsers from these origins only (comma-separated in the ALLOWED_ORIGINS var); others get 403.
  allowedOrigins: typeof env.ALLOWED_ORIGINS === "string" && env.ALLOWED_ORIGINS ? env.ALLOWED_ORIGINS.split(",") : "*",
  // With a JWKS_URL var, every upgrade needs a token (`?access_token=` or `Authorization: Bearer`), verified with jose.
  ...(typeof env.JWKS_URL === "string" && env.JWKS_URL ? { onAuth: createTokenAuth({ custom: { jwksUrl: env.JWKS_URL } }) } : {}),
  chat: { historyLimit: 100 },
}));

export const LiveRoom = live.Room;
export default live;
