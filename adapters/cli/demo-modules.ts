/**
 * The demo page's Yjs modules, served from the packages the server itself depends on (`yjs`, `lib0`,
 * `y-protocols`) under `/demo/m/`, with an import map for their bare specifiers: the browser loads the
 * same ES modules a bundler would, with no build step and nothing fetched from elsewhere.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, normalize, sep } from "node:path";
import { existsSync, readFileSync } from "node:fs";

const PACKAGES = ["yjs", "lib0", "y-protocols"] as const;
/** An entry each package surely has, to find where it is installed. */
const PROBES: Record<(typeof PACKAGES)[number], string> = { yjs: "yjs", lib0: "lib0/encoding", "y-protocols": "y-protocols/sync" };
/** The export conditions of a browser loading ES modules, in the order bundlers try them. */
const CONDITIONS = ["browser", "module", "import", "default"];

export const MODULES_PATH = "/modules";

/** The import map the page puts before its scripts: bare specifiers to `${base}${MODULES_PATH}/…`. */
export function importMap(base: string): string {
  const at = `${base}${MODULES_PATH}`;
  return JSON.stringify({ imports: { yjs: `${at}/yjs/`, "lib0/": `${at}/lib0/`, "y-protocols/": `${at}/y-protocols/` } });
}

interface Package {
  root: string;
  exports: Record<string, unknown>;
}

/** Serves `<package>/<subpath or file>` from the three packages; undefined for anything else. */
export function createModuleServer(): (path: string) => Promise<string | undefined> {
  const require = createRequire(import.meta.url);
  const packages = new Map<string, Package>();
  const cache = new Map<string, string>();
  for (const name of PACKAGES) {
    let dir = dirname(require.resolve(PROBES[name]));
    while (!isPackageRoot(dir, name)) {
      if (dirname(dir) === dir) throw new Error(`demo: ${name} not found`);
      dir = dirname(dir);
    }
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    packages.set(name, { root: dir, exports: manifest.exports ?? {} });
  }
  return async (path) => {
    const slash = path.indexOf("/");
    const pkg = packages.get(slash === -1 ? path : path.slice(0, slash));
    if (!pkg) return undefined;
    const rest = slash === -1 ? "" : path.slice(slash + 1);
    // A subpath the package exports (`lib0/encoding`), else a file a module imported relatively (`./binary.js`).
    const file = pick(pkg.exports[rest === "" ? "." : `./${rest}`]) ?? rest;
    const full = normalize(join(pkg.root, file));
    if (!full.startsWith(pkg.root + sep) || !/\.m?js$/.test(full)) return undefined;
    let text = cache.get(full);
    if (text === undefined) {
      text = await readFile(full, "utf8").catch(() => undefined);
      if (text === undefined) return undefined;
      cache.set(full, text);
    }
    return text;
  };
}

function isPackageRoot(dir: string, name: string): boolean {
  const manifest = join(dir, "package.json");
  return existsSync(manifest) && JSON.parse(readFileSync(manifest, "utf8")).name === name;
}

/** The file an `exports` entry names for a browser importing ES modules. */
function pick(entry: unknown): string | undefined {
  if (typeof entry === "string") return entry;
  if (!entry || typeof entry !== "object") return undefined;
  for (const condition of CONDITIONS) {
    if (condition in entry) return pick((entry as Record<string, unknown>)[condition]);
  }
  return undefined;
}
