import { defineConfig } from "tsdown";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    node: "adapters/node.ts",
    bun: "adapters/bun.ts",
    deno: "adapters/deno.ts",
    "hono-node": "adapters/hono-node.ts",
    "hono-bun": "adapters/hono-bun.ts",
    "hono-deno": "adapters/hono-deno.ts",
    engine: "src/engine-api.ts",
    cloudflare: "adapters/cloudflare/index.ts",
    cli: "adapters/cli.ts",
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
