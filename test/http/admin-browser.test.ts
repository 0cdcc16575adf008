/**
 * The admin page in Debian's Chromium (playwright-core): sign in with the API secret, see a room with two
 * members made by test clients, watch a chat message arrive in the live tail, delete it (both clients
 * get chat_deleted), kick one, ban the other (it cannot rejoin); then the instance's panels: the metric
 * charts drawn from the server's own samples, and the documents with their clients. Screenshots go to
 * artifacts/admin/.
 * Skipped without /usr/bin/chromium, except under CI=true, where that is a failure.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { startNodeInProcess } from "../fixtures/node-inprocess.ts";
import { CHROMIUM, launchChromium } from "../helpers/chromium.ts";
import { TestClient } from "../helpers/client.ts";
import { type Editor, openEditor } from "../helpers/documents.ts";
import { API_SECRET } from "../suites/http-api.suite.ts";
import type { Fixture } from "../suites/wire-protocol.suite.ts";

const ARTIFACTS = join(import.meta.dirname, "..", "..", "artifacts", "admin");
const available = existsSync(CHROMIUM);
if (!available && process.env.CI === "true") throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);

const dir = mkdtempSync(join(tmpdir(), "ols-admin-"));
const clients: TestClient[] = [];
const editors: Editor[] = [];
let context: BrowserContext | undefined;
let server: Fixture | undefined;
let second: Fixture | undefined;
afterAll(async () => {
  await context?.close();
  for (const c of clients) c.terminate();
  for (const e of editors) e.destroy();
  await server?.stop();
  await second?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

describe.skipIf(!available)("admin page in Chromium", () => {
  it("signs in, shows a room's members, tails a chat message, deletes it, kicks one member and bans the other", async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startNodeInProcess({ apiSecret: API_SECRET, onAuth: "x-user" });
    const as = async (user: string) => {
      const c = new TestClient(server!.wsUrl, { headers: { "x-user": user } });
      clients.push(c);
      await c.opened;
      return c;
    };
    const room = "lobby";
    const [alice, bob] = [await as("alice"), await as("bob")];
    await alice.join(room, { cursor: { x: 1, y: 2 } });
    await bob.join(room, { typing: false });

    context = await launchChromium(join(dir, "profile"), { width: 1280, height: 900 });
    const page = await context.newPage();
    const violations: string[] = [];
    page.on("console", (m) => m.type() === "error" && violations.push(m.text()));
    const response = await page.goto(`${server.httpUrl}/admin`);
    const csp = response!.headers()["content-security-policy"]!;
    expect(csp).toMatch(/default-src 'none'; script-src 'nonce-[0-9a-f]{32}'; style-src 'nonce-[0-9a-f]{32}'; connect-src 'self'/);
    expect(await page.locator("script[src], link[rel=stylesheet], img[src]").count()).toBe(0);

    await page.fill("#secret", "wrong-secret-wrong-secret");
    await page.click("#signin button");
    await page.waitForFunction(() => document.querySelector("#signin-error")?.textContent === "The secret was refused");
    await page.fill("#secret", API_SECRET);
    await shot(page, "1-sign-in");
    await page.click("#signin button");
    expect(page.url()).not.toContain(API_SECRET);
    await page.click(`tr[data-room="${room}"]`);
    await page.waitForFunction(() => document.querySelectorAll("#members tbody tr").length === 2);
    expect(await page.locator("#members").textContent()).toContain("Name of alice");
    await shot(page, "2-room");

    const tailOpen = page.waitForResponse((r) => r.url().endsWith(`/api/rooms/${room}/tail`));
    await page.click("#tail-toggle");
    await tailOpen; // the server watches the room once the response has started
    alice.send("send_chat", { message: "hello from alice" });
    await page.waitForFunction(() =>
      [...document.querySelectorAll("#tail .frame")].some((f) => f.textContent?.includes("hello from alice")),
    );
    await page.waitForFunction(() => document.querySelector("#chat li")?.textContent?.includes("hello from alice"));
    await shot(page, "3-tail");
    const { payload } = await bob.next("chat_message");

    await page.click("#chat li button.delete");
    for (const c of [alice, bob]) expect((await c.next("chat_deleted")).payload).toMatchObject({ roomId: room, id: payload.id });
    await page.waitForFunction(() => document.querySelectorAll("#chat li").length === 0);
    await page.waitForFunction(() => [...document.querySelectorAll("#tail .frame")].some((f) => f.textContent?.includes("chat_deleted")));
    await shot(page, "4-deleted");

    await page.click(`#members tr:has-text("Name of bob") button.kick`);
    expect((await bob.closed).code).toBe(4403);
    await page.waitForFunction(() => document.querySelectorAll("#members tbody tr").length === 1);

    await page.click(`#members tr:has-text("Name of alice") button.ban`);
    expect((await alice.closed).code).toBe(4403);
    const again = await as("alice");
    again.send("join_room", { roomId: room });
    expect((await again.next("error")).payload).toMatchObject({ code: "FORBIDDEN" });
    await page.waitForFunction(() => document.querySelector("#status")?.textContent === "Banned alice");
    await shot(page, "5-banned");
    expect(violations.filter((v) => /Content Security Policy/i.test(v))).toEqual([]);
  });

  it("charts this instance's metrics from its own samples and lists the documents with their clients", async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    second = await startNodeInProcess({ apiSecret: API_SECRET });
    const docs = second.wsUrl.replace(/\/live$/, "/yjs");
    const [a1, a2, b] = [await openEditor(docs, "design-notes"), await openEditor(docs, "design-notes"), await openEditor(docs, "roadmap")];
    editors.push(a1, a2, b);
    a1.text.insert(0, "first draft");
    const member = new TestClient(second.wsUrl);
    clients.push(member);
    await member.opened;
    await member.join("busy");
    for (let i = 0; i < 20; i++) member.send("broadcast_event", { event: "tick", payload: i });

    context ??= await launchChromium(join(dir, "profile"), { width: 1280, height: 900 });
    const page = await context.newPage();
    const violations: string[] = [];
    page.on("console", (m) => m.type() === "error" && violations.push(m.text()));
    await page.goto(`${second.httpUrl}/admin`);
    await page.evaluate(() => sessionStorage.clear());
    await page.fill("#secret", API_SECRET);
    await page.click("#signin button");

    await page.waitForFunction(() => document.querySelector('#documents tr[data-doc="design-notes"]')?.textContent?.endsWith("2"));
    expect(await page.locator("#documents tbody tr").evaluateAll((rows) => rows.map((r) => r.textContent))).toEqual([
      expect.stringMatching(/^design-notes.*2$/),
      expect.stringMatching(/^roadmap.*1$/),
    ]);
    await page.fill("#doc-search", "road");
    await page.waitForFunction(() => document.querySelectorAll("#documents tbody tr").length === 1);
    await page.fill("#doc-search", "");
    await page.waitForFunction(() => document.querySelectorAll("#documents tbody tr").length === 2);

    // The first sample is taken 5 s after the API started, the page reads them every 5 s.
    await page.waitForFunction(() => Number(document.querySelector("#charts")?.getAttribute("data-samples")) >= 1, undefined, {
      timeout: 30_000,
    });
    expect(await page.locator("#charts figure").count()).toBe(4);
    expect(await page.locator("#charts svg polyline").count()).toBe(5);
    const points = await page.locator('#charts polyline[data-field="connections"]').getAttribute("points");
    expect(points).toMatch(/^[\d.]+,[\d.]+ /);
    expect(await page.locator("#scope").textContent()).toMatch(/^This instance, last 60 min, a sample every 5 s/);
    // The member; document sockets are not the rooms' connections.
    expect(await page.locator('figure[data-chart="connections"] .now').textContent()).toBe("1 · max 1");
    await shot(page, "6-metrics-and-documents");
    expect(violations.filter((v) => /Content Security Policy/i.test(v))).toEqual([]);
  }, 60_000);
});
