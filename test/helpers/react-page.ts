/**
 * What the React browser tests share: a fixture app bundled with rolldown (the bundler tsdown uses), served
 * over HTTP on 127.0.0.1, a Chromium profile, a restartable server that lists the app's origin, and a page's
 * `#out` view read back as JSON.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { build } from "rolldown";
import { CHROMIUM, launchChromium } from "./chromium.ts";
import { type RestartableServer, startRestartable } from "./restartable.ts";

/** Whether Chromium is here; under CI=true its absence is an error, not a skip. */
export function chromiumAvailable(): boolean {
  const available = existsSync(CHROMIUM);
  if (!available && process.env.CI === "true") throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)`);
  return available;
}

export interface ReactPageRig {
  context: BrowserContext;
  server: RestartableServer;
  /** The page's URL with the server's socket URL and the given query. */
  open(query: Record<string, string>): Promise<Page>;
  close(): Promise<void>;
}

/** Bundles test/fixtures/<fixture>, serves it, launches Chromium and a Node server that allows the app's origin. */
export async function startReactPage(fixture: string): Promise<ReactPageRig> {
  const dir = mkdtempSync(join(tmpdir(), "ols-react-"));
  const result = await build({
    input: join(import.meta.dirname, "..", "fixtures", fixture),
    platform: "browser",
    write: false,
    transform: { define: { "process.env.NODE_ENV": JSON.stringify("development") } },
    output: { format: "esm" },
  });
  const code = result.output[0].code;
  // A page may open sockets to loopback only when it came from loopback itself (Chromium's local network
  // access checks), so the app is served over HTTP on 127.0.0.1 too.
  const http: Server = createServer((req, res) => {
    const js = req.url?.startsWith("/app.js");
    res.writeHead(200, { "content-type": js ? "text/javascript" : "text/html" });
    res.end(js ? code : '<!doctype html><div id="root"></div><script type="module" src="/app.js"></script>');
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const appUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
  const context = await launchChromium(join(dir, "profile"));
  // The app comes from another origin than the socket: the server must list it (allowedOrigins).
  const server = await startRestartable("node", { allowedOrigins: [new URL(appUrl).origin] });
  return {
    context,
    server,
    async open(query) {
      const page = await context.newPage();
      page.on("pageerror", (e) => console.log(`pageerror ${e.message}`));
      await page.goto(`${appUrl}?${new URLSearchParams({ ...query, url: server.wsUrl })}`);
      return page;
    },
    async close() {
      http.close();
      await context.close();
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The page's `#out` element, parsed. */
export async function pageView<T = Record<string, unknown>>(page: Page): Promise<T> {
  return JSON.parse((await page.locator("#out").textContent()) ?? "{}");
}

/** Waits until `predicate` (an expression over the view `v`) holds on the page; the error shows the view. */
export function untilView(page: Page, predicate: string): Promise<unknown> {
  return page
    .waitForFunction(
      `(() => { const v = JSON.parse(document.querySelector("#out")?.textContent || "{}"); return ${predicate}; })()`,
      undefined,
      { timeout: 20_000 },
    )
    .catch(async (error) => {
      const shown = await page
        .locator("#out")
        .textContent()
        .catch(() => "nothing");
      throw new Error(`${predicate} never held; the page shows ${shown}`, { cause: error });
    });
}
