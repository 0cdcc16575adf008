// `npm run dev:cloudflare`: the example Worker on local workerd through Miniflare (no account, no network).
// Bundles worker.ts with rolldown, serves it on 127.0.0.1:PORT (default 8787) and keeps the rooms'
// Durable Object storage (their chat) in examples/cloudflare/.state between runs.
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { rolldown } from "rolldown";

const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const port = Number(process.env.PORT ?? 8787);

const bundle = await rolldown({
  input: here("./worker.ts"),
  platform: "browser",
  resolve: { conditionNames: ["workerd", "worker", "browser", "import", "default"] },
  logLevel: "warn",
});
const { output } = await bundle.generate({ format: "esm" });
await bundle.close();

const miniflare = new Miniflare({
  modules: true,
  script: output[0].code,
  host: "127.0.0.1",
  port,
  compatibilityDate: "2025-07-01",
  durableObjects: { ROOMS: { className: "LiveRoom", useSQLite: true } },
  durableObjectsPersist: here("./.state"),
  bindings: {
    ALLOWED_ORIGINS: process.env.ALLOWED_ORIGINS ?? "",
    JWKS_URL: process.env.JWKS_URL ?? "",
    API_SECRET: process.env.API_SECRET ?? "",
  },
});
const url = await miniflare.ready;
console.log(`openlivesync on workerd: ${url.href}  WebSocket: ws://127.0.0.1:${url.port}/live (or /live?room=<id>)`);

const stop = async () => {
  await miniflare.dispose();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
