/**
 * A Worker on local workerd through Miniflare: test/fixtures/cloudflare-worker.ts bundled once with
 * rolldown, its room class bound as `ROOMS` (SQLite-backed Durable Objects). With `persist`, the objects'
 * storage lives in that folder, so a second fixture on it sees the first one's chat.
 */
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { rolldown } from "rolldown";
import type { FixtureOptions } from "../fixtures/options.ts";
import type { Fixture } from "../suites/wire-protocol.suite.ts";

const entry = fileURLToPath(new URL("../fixtures/cloudflare-worker.ts", import.meta.url));
let built: Promise<string> | undefined;

/** `file` bundled as one ES module for workerd. */
export async function bundleWorker(file: string): Promise<string> {
  const bundle = await rolldown({
    input: file,
    platform: "browser",
    external: [/^cloudflare:/],
    resolve: { conditionNames: ["workerd", "worker", "browser", "import", "default"] },
    logLevel: "silent",
  });
  const { output } = await bundle.generate({ format: "esm" });
  await bundle.close();
  return output[0].code;
}

/**
 * Bundle the fixture Worker now (once per test file): call it in `beforeAll` with a long timeout, so a
 * busy machine's bundling is not charged to the first test's timeout.
 */
export async function prepareWorkerd(): Promise<void> {
  await (built ??= bundleWorker(entry));
}

export interface WorkerdOptions {
  /** Keep the Durable Objects' storage in this folder (default: in memory). */
  persist?: string;
  port?: number;
  /** Another bundled script instead of the fixture Worker. */
  script?: string;
}

export interface WorkerdFixture extends Fixture {
  miniflare: Miniflare;
}

/** Start the fixture Worker with `options` and resolve once it serves. */
export async function startWorkerd(options: FixtureOptions = {}, w: WorkerdOptions = {}): Promise<WorkerdFixture> {
  const script = w.script ?? (await (built ??= bundleWorker(entry)));
  const miniflare = new Miniflare({
    modules: true,
    script,
    host: "127.0.0.1",
    port: w.port ?? 0,
    compatibilityDate: "2025-07-01",
    durableObjects: { ROOMS: { className: "LiveRoom", useSQLite: true } },
    durableObjectsPersist: w.persist ?? false,
    bindings: { OLS_FIXTURE: JSON.stringify(options) },
  });
  const url = await miniflare.ready;
  const httpUrl = `http://127.0.0.1:${url.port}`;
  return {
    miniflare,
    httpUrl,
    wsUrl: `ws://127.0.0.1:${url.port}${options.path ?? "/live"}`,
    stop: () => miniflare.dispose(),
  };
}
