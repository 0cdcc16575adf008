/**
 * The React hooks in Chromium: a small app (test/fixtures/react-app.ts, bundled here with rolldown, the
 * bundler tsdown uses) on two pages against a real server that is killed and restarted.
 * Skipped without /usr/bin/chromium, except under CI=true.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { CHROMIUM, launchChromium } from "../helpers/chromium.ts";
import { build } from "rolldown";
import { afterAll, describe, expect, it } from "vitest";
import { startRestartable, type RestartableServer } from "../helpers/restartable.ts";

const available = existsSync(CHROMIUM);
if (!available && process.env.CI === "true") throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)`);

const dir = mkdtempSync(join(tmpdir(), "ols-react-"));
let context: BrowserContext | undefined;
let server: RestartableServer | undefined;
let appServer: Server | undefined;
afterAll(async () => {
  appServer?.close();
  await context?.close();
  await server?.kill();
  rmSync(dir, { recursive: true, force: true });
});

async function bundle(): Promise<string> {
  const result = await build({
    input: join(import.meta.dirname, "..", "fixtures", "react-app.ts"),
    platform: "browser",
    write: false,
    transform: { define: { "process.env.NODE_ENV": JSON.stringify("development") } },
    output: { format: "esm" },
  });
  return result.output[0].code;
}

interface View {
  status: string;
  finer: string;
  joined: boolean;
  members: { name: string; x: number | null }[];
  messages: string[];
  pending: number;
  events: string[];
}
const view = async (page: Page): Promise<View> => JSON.parse((await page.locator("#out").textContent()) ?? "{}");
const until = (page: Page, predicate: string) =>
  waitView(page, predicate).catch(async (error) => {
    throw new Error(
      `${predicate} never held; the page shows ${await page
        .locator("#out")
        .textContent()
        .catch(() => "nothing")}`,
      { cause: error },
    );
  });
const waitView = (page: Page, predicate: string) =>
  page.waitForFunction(
    `(() => { const v = JSON.parse(document.querySelector("#out")?.textContent || "{}"); return ${predicate}; })()`,
    undefined,
    { timeout: 20_000 },
  );

describe.skipIf(!available)("React hooks in Chromium", () => {
  it("join, presence, chat and events through the hooks; back by themselves after a server restart; leave on unmount", async () => {
    const code = await bundle();
    context = await launchChromium(join(dir, "profile"));
    // A page may open sockets to loopback only when it came from loopback itself (Chromium's local network
    // access checks), so the app is served over HTTP on 127.0.0.1 too.
    const http = createServer((req, res) => {
      const js = req.url?.startsWith("/app.js");
      res.writeHead(200, { "content-type": js ? "text/javascript" : "text/html" });
      res.end(js ? code : '<!doctype html><div id="root"></div><script type="module" src="/app.js"></script>');
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    appServer = http;
    const appUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
    // The app comes from another origin than the socket: the server must list it (allowedOrigins).
    server = await startRestartable("node", { allowedOrigins: [new URL(appUrl).origin] });
    const open = async (name: string) => {
      const page = await context!.newPage();
      page.on("pageerror", (e) => console.log(`[${name}] pageerror ${e.message}`));
      await page.goto(`${appUrl}?name=${name}&url=${encodeURIComponent(server!.wsUrl)}`);
      return page;
    };
    const ada = await open("Ada");
    const bob = await open("Bob");
    for (const page of [ada, bob]) await until(page, `v.joined && v.status === "open" && v.members.length === 2`);
    expect((await view(ada)).members).toEqual([
      { name: "Ada", x: null },
      { name: "Bob", x: null },
    ]);

    await ada.evaluate(() => (window as any).app.move(7));
    await until(bob, `v.members.some((m) => m.name === "Ada" && m.x === 7)`);
    await ada.evaluate(() => (window as any).app.send("hi from React"));
    await until(bob, `v.messages.includes("hi from React")`);
    await bob.evaluate(() => (window as any).app.ping());
    await until(ada, `v.events.length === 1`);
    expect((await view(ada)).events).toEqual(["Bob"]);

    await server.kill();
    await until(ada, `v.finer === "reconnecting" && !v.joined`);
    await ada.evaluate(() => (window as any).app.send("sent while down"));
    await server.restart();
    for (const page of [ada, bob])
      await until(page, `v.joined && v.members.length === 2 && v.messages.includes("sent while down") && v.pending === 0`);
    expect((await view(bob)).members).toEqual([
      { name: "Ada", x: 7 },
      { name: "Bob", x: null },
    ]);
    expect((await view(bob)).messages.filter((m) => m === "sent while down")).toHaveLength(1);

    await ada.evaluate(() => (window as any).app.unmountRoom());
    await until(bob, `v.members.length === 1`);
    expect((await view(bob)).members).toEqual([{ name: "Bob", x: null }]);
  }, 120_000);
});
