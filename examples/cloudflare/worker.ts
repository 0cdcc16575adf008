// Rooms on Cloudflare: the Worker and the room's Durable Object class. Deploy with `wrangler deploy`
// (wrangler.toml beside this file); try it locally with `npm run dev:cloudflare` (workerd, no account).
import { createLiveWorker, createTokenAuth } from "@openlivesync/server/cloudflare";

const live = createLiveWorker((env) => ({
  // Browsers from these origins only (comma-separated in the ALLOWED_ORIGINS var); others get 403.
  allowedOrigins: typeof env.ALLOWED_ORIGINS === "string" && env.ALLOWED_ORIGINS ? env.ALLOWED_ORIGINS.split(",") : "*",
  // With a JWKS_URL var, every upgrade needs a token (`?access_token=` or `Authorization: Bearer`), verified with jose.
  ...(typeof env.JWKS_URL === "string" && env.JWKS_URL ? { onAuth: createTokenAuth({ custom: { jwksUrl: env.JWKS_URL } }) } : {}),
  // With an API_SECRET secret (`wrangler secret put API_SECRET`), the HTTP API under /api, forwarded to each room's object.
  ...(typeof env.API_SECRET === "string" && env.API_SECRET ? { api: { secret: env.API_SECRET } } : {}),
  chat: { historyLimit: 100 },
}));

export const LiveRoom = live.Room;
export default live;
