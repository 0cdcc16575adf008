/**
 * `useDocument` in Chromium: two pages of a small React app (test/fixtures/react-document-app.ts, bundled
 * with rolldown) edit one document through the hook, see its status, and sync again by themselves after the
 * server is killed and restarted (the server starts empty: the pages' docs give it the text back).
 * Skipped without /usr/bin/chromium, except under CI=true.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { build } from "rolldown";
import { afterAll, describe, expect, it } from "vitest";
import { CHROMIUM, launchChromium } from "../helpers/chromium.ts";
import { startRestartable, type RestartableServer } from "../helpers/restartable.ts";

const available = existsSync(CHROMIUM);
if (!available && process.env.CI === "true") throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)`);

const dir = mkdtempSync(join(tmpdir(), "ols-react-doc-"));
let context: BrowserContext | undefined;
let server: RestartableServer | undefined;
let appServer: Server | undefined;
afterAll(async () => {
  appServer?.close();
  await context?.close();
  await server?.kill();
  rmSync(dir, { recursive: true, force: true });
});

const view = async (page: Page) => JSON.parse((await page.locator("#out").textContent()) ?? "{}");
const until = (page: Page, predicate: string) =>
  page
    .waitForFunction(
      `(() => { const v = JSON.parse(document.querySelector("#out")?.textContent || "{}"); return ${predicate}; })()`,
      undefined,
      { timeout: 20_000 },
    )
    .catch(async (error) => {
      throw new Error(`${predicate} never held; the page shows ${await page.locator("#out").textContent()}`, { cause: error });
    });

describe.skipIf(!available)("useDocument in Chromium", () => {
  it("gives two pages one document with its sync status, and syncs again after a server restart", async () => {
    const result = await build({
      input: join(import.meta.dirname, "..", "fixtures", "react-document-app.ts"),
      platform: "browser",
      write: false,
      transform: { define: { "process.env.NODE_ENV": JSON.stringify("development") } },
      output: { format: "esm" },
    });
    const code = result.output[0].code;
    context = await launchChromium(join(dir, "profile"));
    const http = createServer((req, res) => {
      const js = req.url?.startsWith("/app.js");
      res.writeHead(200, { "content-type": js ? "text/javascript" : "text/html" });
      res.end(js ? code : '<!doctype html><div id="root"></div><script type="module" src="/app.js"></script>');
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    appServer = http;
    const appUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
    server = await startRestartable("node", { allowedOrigins: [new URL(appUrl).origin] });
    const open = async () => {
      const page = await context!.newPage();
      page.on("pageerror", (e) => console.log(`pageerror ${e.message}`));
      await page.goto(`${appUrl}?doc=react-notes&url=${encodeURIComponent(server!.wsUrl)}`);
      return page;
    };
    const ada = await open();
    const bob = await open();
    for (const page of [ada, bob]) await until(page, `v.status === "synced" && v.synced && v.awareness && !v.readOnly`);
    await ada.evaluate(() => (window as any).app.type("from Ada. "));
    await until(bob, `v.text === "from Ada. "`);
    await bob.evaluate(() => (window as any).app.type("from Bob."));
    await until(ada, `v.text === "from Ada. from Bob."`);

    await server.kill();
    for (const page of [ada, bob]) await until(page, `v.status === "offline" && v.synced`);
    await ada.evaluate(() => (window as any).app.type(" Offline."));
    await server.restart();
    const expected = "from Ada. from Bob. Offline.";
    for (const page of [ada, bob]) await until(page, `v.status === "synced" && v.text === ${JSON.stringify(expected)}`);
    expect((await view(ada)).text).toBe(expected);
    // StrictMode's first mount left no socket behind: one document connection per page.
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^openlivesync_document_connections 2$/m);
  }, 120_000);
});
