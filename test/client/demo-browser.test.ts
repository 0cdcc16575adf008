/**
 * The demo page in Debian's Chromium, driven by playwright-core: two pages see each other's cursor and chat,
 * the server is killed and started again on the same port, and both pages come back by themselves; a
 * message typed during the outage shows once on both. Screenshots go to artifacts/client-browser/.
 * Needs /usr/bin/chromium (`apt-get install -y chromium`; .ci/run installs it); skipped without it, except
 * under CI=true, where that is a failure.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { CHROMIUM, launchChromium } from "../helpers/chromium.ts";
import { afterAll, describe, expect, it } from "vitest";

const CLI = join(import.meta.dirname, "..", "..", "dist", "cli.js");
const ARTIFACTS = join(import.meta.dirname, "..", "..", "artifacts", "client-browser");
const available = existsSync(CHROMIUM);
if (!available && process.env.CI === "true") throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)`);
if (!available) console.warn(`client-browser: skipped, ${CHROMIUM} is missing (apt-get install -y chromium)`);

const dir = mkdtempSync(join(tmpdir(), "ols-browser-"));
const children = new Set<ChildProcess>();
let context: BrowserContext | undefined;
afterAll(async () => {
  await context?.close();
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

/** The CLI on `port` (0: any); resolves with the port it printed. */
function startCli(port: number, args = ["--storage", `sqlite:${join(dir, "chat.db")}`]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [CLI, "--port", String(port), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let out = "";
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /Demo: http:\/\/127\.0\.0\.1:(\d+)\/demo/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`CLI exited (${code}): ${out}`)));
  });
}

async function kill(child: ChildProcess) {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

const status = (page: Page) => page.locator("#status").getAttribute("data-status");
const waitStatus = (page: Page, value: string) =>
  page.waitForFunction((v) => document.querySelector("#status")?.getAttribute("data-status") === v, value, { timeout: 20_000 });
const waitMembers = (page: Page, n: number) =>
  page.waitForFunction((count) => document.querySelectorAll("#members li").length === count, n, { timeout: 20_000 });
const messageCount = (page: Page, text: string) =>
  page.evaluate((t) => [...document.querySelectorAll("#messages li.msg")].filter((li) => li.textContent?.includes(t)).length, text);
const waitMessage = (page: Page, text: string) =>
  page.waitForFunction((t) => [...document.querySelectorAll("#messages li.msg")].some((li) => li.textContent?.includes(t)), text, {
    timeout: 20_000,
  });
const shoot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });

describe.skipIf(!available)("the demo page in Chromium", () => {
  it("shows both pages each other's cursor and chat, and both recover by themselves from a server restart", async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    let server = await startCli(0);
    const port = server.port;
    context = await launchChromium(join(dir, "profile"), { width: 1100, height: 640 });
    const base = `http://127.0.0.1:${port}/demo?room=browser-test`;
    const ada = await context.newPage();
    const bob = await context.newPage();
    await ada.goto(`${base}&name=Ada&color=%23e11d48`);
    await bob.goto(`${base}&name=Bob&color=%232563eb`);
    for (const page of [ada, bob]) {
      await waitStatus(page, "open");
      await waitMembers(page, 2);
    }

    // Ada moves across the board; Bob sees her cursor come to rest where she stopped.
    const board = (await ada.locator("#board").boundingBox())!;
    await ada.mouse.move(board.x + 100, board.y + 100);
    await ada.mouse.move(board.x + 320, board.y + 240, { steps: 25 });
    const rest = `translate(320px, 240px)`;
    await bob.waitForFunction(
      (t) => (document.querySelector('.cursor[data-name="Ada"]') as HTMLElement | null)?.style.transform === t,
      rest,
      { timeout: 20_000 },
    );
    await bob.mouse.move(board.x + 500, board.y + 120, { steps: 5 });
    await ada.waitForFunction(() => document.querySelector('.cursor[data-name="Bob"]') !== null, undefined, { timeout: 20_000 });

    await ada.fill("#chat-input", "hello from Ada");
    await ada.press("#chat-input", "Enter");
    await waitMessage(bob, "hello from Ada");
    await bob.fill("#chat-input", "hi Ada, Bob here");
    await bob.press("#chat-input", "Enter");
    await waitMessage(ada, "hi Ada, Bob here");
    await shoot(ada, "1-ada-connected");
    await shoot(bob, "1-bob-connected");

    // The server dies. Both pages notice; Ada types while it is down.
    await kill(server.child);
    await waitStatus(ada, "reconnecting");
    await waitStatus(bob, "reconnecting");
    await ada.fill("#chat-input", "typed during the outage");
    await ada.press("#chat-input", "Enter");
    await ada.waitForFunction(
      () => document.querySelector("#messages li.pending")?.textContent?.includes("typed during the outage") === true,
    );
    await shoot(ada, "2-ada-outage");

    server = await startCli(port);
    for (const page of [ada, bob]) {
      await waitStatus(page, "open");
      await waitMembers(page, 2);
      await waitMessage(page, "typed during the outage");
    }
    await ada.waitForFunction(() => document.querySelectorAll("#messages li.pending").length === 0, undefined, { timeout: 20_000 });
    // Bob sees Ada's resting cursor again: her last presence went out with the rejoin.
    await bob.waitForFunction(
      (t) => (document.querySelector('.cursor[data-name="Ada"]') as HTMLElement | null)?.style.transform === t,
      rest,
      { timeout: 20_000 },
    );
    await shoot(ada, "3-ada-recovered");
    await shoot(bob, "3-bob-recovered");

    for (const page of [ada, bob]) {
      expect(await status(page)).toBe("open");
      expect(await messageCount(page, "typed during the outage")).toBe(1);
      expect(await messageCount(page, "hello from Ada")).toBe(1);
      expect(await messageCount(page, "hi Ada, Bob here")).toBe(1);
    }
    // Bob renames himself in the page's name field: Ada sees the new name in the members and on his chat,
    // and Bob's URL keeps it for a reload.
    expect(await bob.inputValue("#name")).toBe("Bob");
    await bob.fill("#name", "Robert");
    await bob.press("#name", "Enter");
    await ada.waitForFunction(() => [...document.querySelectorAll("#members li")].some((li) => li.textContent === "Robert"), undefined, {
      timeout: 20_000,
    });
    expect(new URL(bob.url()).searchParams.get("name")).toBe("Robert");
    await bob.fill("#chat-input", "renamed");
    await bob.press("#chat-input", "Enter");
    await waitMessage(ada, "Robert:renamed");

    // Nothing older than what the pages hold (the room started empty): a line says so, no silent absence.
    if (await ada.locator("#load-older").isVisible()) await ada.click("#load-older");
    await ada.waitForFunction(() => !(document.querySelector("#history-end") as HTMLElement).hidden, undefined, { timeout: 20_000 });
    expect(await ada.locator("#history-end").textContent()).toBe("No older messages");
    expect(await ada.locator("#load-older").isHidden()).toBe(true);
    expect(await ada.locator("link[rel=icon]").getAttribute("href")).toMatch(/^data:image\/svg\+xml,/);
    await shoot(ada, "4-ada-no-older");

    // The upstream GET / is unchanged.
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("openlivesync");
    await kill(server.child);
  }, 120_000);

  it("loads older messages on the default in-memory storage, then says there are no more", async () => {
    const server = await startCli(0, ["--history-limit", "2"]);
    context ??= await launchChromium(join(dir, "profile"), { width: 1100, height: 640 });
    const base = `http://127.0.0.1:${server.port}/demo?room=paging`;
    const writer = await context.newPage();
    await writer.goto(`${base}&name=Writer`);
    await waitStatus(writer, "open");
    for (const text of ["one", "two", "three", "four", "five"]) {
      await writer.fill("#chat-input", text);
      await writer.press("#chat-input", "Enter");
      await waitMessage(writer, `Writer:${text}`);
    }
    const reader = await context.newPage();
    await reader.goto(`${base}&name=Reader`);
    await waitStatus(reader, "open");
    await waitMessage(reader, "Writer:five");
    const shown = () => reader.evaluate(() => [...document.querySelectorAll("#messages li.msg")].length);
    expect(await shown()).toBe(2);

    await reader.click("#load-older");
    await reader.waitForFunction(() => document.querySelectorAll("#messages li.msg").length === 5, undefined, { timeout: 20_000 });
    await reader.waitForFunction(() => !(document.querySelector("#history-end") as HTMLElement).hidden, undefined, { timeout: 20_000 });
    expect(await reader.locator("#load-older").isHidden()).toBe(true);
    await shoot(reader, "5-reader-paged");
    await writer.close();
    await reader.close();
    await kill(server.child);
  }, 120_000);

  it("keeps a notes pad that two pages type into at once converged, and still there after a restart with SQLite", async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const storage = ["--storage", `sqlite:${join(dir, "notes.db")}`];
    let server = await startCli(0, storage);
    const port = server.port;
    context ??= await launchChromium(join(dir, "profile"), { width: 1100, height: 640 });
    const base = `http://127.0.0.1:${port}/demo?room=notes-test`;
    const ada = await context.newPage();
    const bob = await context.newPage();
    await ada.goto(`${base}&name=Ada`);
    await bob.goto(`${base}&name=Bob`);
    const notesStatus = (page: Page, value: string) =>
      page.waitForFunction((v) => document.querySelector("#notes-status")?.getAttribute("data-status") === v, value, { timeout: 20_000 });
    const pad = (page: Page) => page.inputValue("#notes");
    const waitPad = (page: Page, text: string) =>
      page.waitForFunction((t) => (document.querySelector("#notes") as HTMLTextAreaElement).value === t, text, { timeout: 20_000 });
    for (const page of [ada, bob]) await notesStatus(page, "synced");

    // A line both see; then Ada types before it and Bob after it, at the same time, key by key.
    await ada.locator("#notes").pressSequentially("|");
    await waitPad(bob, "|");
    await ada.evaluate(() => (document.querySelector("#notes") as HTMLTextAreaElement).setSelectionRange(0, 0));
    await bob.evaluate(() => (document.querySelector("#notes") as HTMLTextAreaElement).setSelectionRange(1, 1));
    await Promise.all([
      ada.locator("#notes").pressSequentially("Ada wrote this. ", { delay: 15 }),
      bob.locator("#notes").pressSequentially(" And Bob this.", { delay: 15 }),
    ]);
    const expected = "Ada wrote this. | And Bob this.";
    await waitPad(ada, expected);
    await waitPad(bob, expected);
    await shoot(ada, "6-ada-notes");
    await shoot(bob, "6-bob-notes");

    // A clean stop writes what is pending; the pages go offline, come back by themselves, and keep the text.
    const exited = new Promise((resolve) => server.child.once("exit", resolve));
    server.child.kill("SIGTERM");
    await exited;
    for (const page of [ada, bob]) await notesStatus(page, "offline");
    server = await startCli(port, storage);
    for (const page of [ada, bob]) await notesStatus(page, "synced");
    const late = await context.newPage();
    await late.goto(`${base}&name=Late`);
    await notesStatus(late, "synced");
    await waitPad(late, expected);
    await shoot(late, "7-late-notes-after-restart");
    for (const page of [ada, bob]) expect(await pad(page)).toBe(expected);
    for (const page of [ada, bob, late]) await page.close();
    await kill(server.child);
  }, 120_000);
});
