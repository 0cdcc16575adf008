// `npm start`'s prestart: build dist/ only when a source is newer than the oldest built file. Silent when
// dist/ is up to date; one line when it builds (tsdown's own output only if the build fails).
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const SOURCES = ["src", "adapters", "package.json", "tsdown.config.ts"];

/** Newest (or oldest) modification time among the files under `path`. */
function mtimes(path, pick) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let found;
  for (const name of readdirSync(path)) {
    const t = mtimes(join(path, name), pick);
    if (t !== undefined) found = found === undefined ? t : pick(found, t);
  }
  return found;
}

const dist = join(root, "dist");
const built = existsSync(join(dist, "cli.js")) ? mtimes(dist, Math.min) : undefined;
const changed = Math.max(
  ...SOURCES.map((p) => join(root, p))
    .filter(existsSync)
    .map((p) => mtimes(p, Math.max) ?? 0),
);
if (built === undefined || changed > built) {
  console.log(built === undefined ? "Building dist/ (first start)…" : "Sources changed since the last build: building dist/…");
  const tsdown = join(root, "node_modules", "tsdown");
  const bin = JSON.parse(readFileSync(join(tsdown, "package.json"), "utf8")).bin.tsdown;
  const result = spawnSync(process.execPath, [join(tsdown, bin), "--logLevel", "silent"], {
    cwd: root,
    encoding: "utf8",
  });
  if (result.status !== 0) {
    process.stderr.write(`${result.stdout}${result.stderr}`);
    process.exit(result.status ?? 1);
  }
}
