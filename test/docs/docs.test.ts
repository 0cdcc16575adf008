import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { brokenLinks, codeBlocks, collectDocs, historyWords, packagePaths, typeCheckBlocks, type DocFile } from "./docs-check.ts";

const ROOT = join(import.meta.dirname, "..", "..");

/** tsdown.config.ts's `entry`: built file name → source. */
function buildEntries(): Record<string, string> {
  const config = readFileSync(join(ROOT, "tsdown.config.ts"), "utf8");
  const block = /entry:\s*\{([^}]*)\}/.exec(config)?.[1] ?? "";
  return Object.fromEntries([...block.matchAll(/"?([\w-]+)"?\s*:\s*"([^"]+\.ts)"/g)].map((m) => [m[1]!, m[2]!]));
}

const docs = collectDocs(ROOT);
const fake = (name: string, text: string): DocFile => ({ path: join(ROOT, "docs", name), text });

describe("README.md and docs/", () => {
  it("keep the README to one screenful of set-up and links (300 lines at most)", () => {
    expect(readFileSync(join(ROOT, "README.md"), "utf8").split("\n").length).toBeLessThanOrEqual(300);
  });

  it("resolve every relative link and #anchor", () => {
    expect(brokenLinks(docs)).toEqual([]);
  });

  it("hold no development history (rounds, sessions)", () => {
    expect(historyWords(docs)).toEqual([]);
  });

  it("compile every TypeScript code block against the package's own types", () => {
    const blocks = docs.flatMap(codeBlocks);
    expect(blocks.length).toBeGreaterThan(20);
    expect(typeCheckBlocks(ROOT, blocks, buildEntries())).toEqual([]);
  }, 120_000);
});

describe("the docs check itself", () => {
  it("maps every subpath of the package to a source file", () => {
    const paths = packagePaths(ROOT, buildEntries());
    for (const name of ["", "/client", "/react", "/hono", "/engine", "/node", "/bun", "/deno"]) {
      expect(paths[`@openlivesync/server${name}`], name).toBeDefined();
    }
  });

  it("reports a code block with a type error, naming its page and line", () => {
    const page = fake(
      "broken.md",
      [
        "# Broken",
        "",
        "```ts",
        'import { createLiveSyncClient } from "@openlivesync/server/client";',
        'const client = createLiveSyncClient({ url: "ws://127.0.0.1:3000/live" });',
        "const n: number = client.getState().status;",
        "```",
        "",
        "```ts no-check",
        "this is not even TypeScript",
        "```",
      ].join("\n"),
    );
    const blocks = codeBlocks(page);
    expect(blocks).toHaveLength(1);
    const problems = typeCheckBlocks(ROOT, blocks, buildEntries());
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/docs\/broken\.md:6: Type '.*' is not assignable to type 'number'/);
  }, 120_000);

  it("reports a missing page, a missing anchor and a history word", () => {
    const a = fake("a.md", "# Page A\n\n## Some `code` heading\n\nSee [b](b.md#nowhere), [c](c.md), [here](#some-code-heading).\n");
    const b = fake("b.md", "# Page B\n\nIn round 2 we did this; a round trip costs one.\n");
    const problems = brokenLinks([a, b]);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain('no heading or id "nowhere"');
    expect(problems[1]).toContain("c.md: no such file");
    expect(historyWords([a, b])).toEqual([expect.stringContaining('"round"')]);
  });
});
