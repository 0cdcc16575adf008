/**
 * `useDocument` in Chromium: two pages of a small React app (test/fixtures/react-document-app.ts, bundled
 * with rolldown) edit one document through the hook, see its status, and sync again by themselves after the
 * server is killed and restarted (the server starts empty: the pages' docs give it the text back).
 * Skipped without /usr/bin/chromium, except under CI=true.
 */
import { afterAll, describe, expect, it } from "vitest";
import { chromiumAvailable, pageView as view, type ReactPageRig, startReactPage, untilView as until } from "../helpers/react-page.ts";

const available = chromiumAvailable();
let rig: ReactPageRig | undefined;
afterAll(async () => {
  await rig?.close();
});

describe.skipIf(!available)("useDocument in Chromium", () => {
  it("gives two pages one document with its sync status, and syncs again after a server restart", async () => {
    rig = await startReactPage("react-document-app.ts");
    const server = rig.server;
    const open = () => rig!.open({ doc: "react-notes" });
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
