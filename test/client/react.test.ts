/**
 * The React hooks in Chromium: a small app (test/fixtures/react-app.ts, bundled here with rolldown, the
 * bundler tsdown uses) on two pages against a real server that is killed and restarted.
 * Skipped without /usr/bin/chromium, except under CI=true.
 */
import type { Page } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { chromiumAvailable, pageView, type ReactPageRig, startReactPage, untilView } from "../helpers/react-page.ts";

const available = chromiumAvailable();
let rig: ReactPageRig | undefined;
afterAll(async () => {
  await rig?.close();
});

interface View {
  status: string;
  finer: string;
  joined: boolean;
  members: { name: string; x: number | null }[];
  messages: string[];
  pending: number;
  events: string[];
}
const view = (page: Page) => pageView<View>(page);
const until = untilView;

describe.skipIf(!available)("React hooks in Chromium", () => {
  it("join, presence, chat and events through the hooks; back by themselves after a server restart; leave on unmount", async () => {
    rig = await startReactPage("react-app.ts");
    const server = rig.server;
    const open = (name: string) => rig!.open({ name });
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
