import { defineConfig } from "tsdown";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    node: "adapters/node/index.ts",
    bun: "adapters/bun/index.ts",
    deno: "adapters/deno/index.ts",
    "hono-node": "adapters/node/hono.ts",
    "hono-bun": "adapters/bun/hono.ts",
    "hono-deno": "adapters/deno/hono.ts",
    engine: "src/engine-api.ts",
    cloudflare: "adapters/cloudflare/index.ts",
    cli: "adapters/cli/cli.ts",
    client: "src/client/index.ts",
    react: "src/client/react.ts",
  },
  format: "esm",
  platform: "neutral",
  target: "es2022",
  dts: true,
  clean: true,
  // Drivers and runtimes stay imports; users install the ones they use.
  external: [/^node:/, /^bun:/, "better-sqlite3", "postgres", "mysql2", "mysql2/promise", "ioredis", /^drizzle-orm/, "react"],
});
