/**
 * The docs check: README.md and docs/**\/*.md read as a new user reads them. Every relative link and `#anchor`
 * resolves, every TypeScript code block compiles against the package's own types, and no page talks about how
 * the package was made. Pure functions over file contents, so the test can feed them a broken page too.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

export interface DocFile {
  /** Absolute path. */
  path: string;
  text: string;
}

export interface CodeBlock {
  file: string;
  /** 1-based line of the block's first code line. */
  line: number;
  lang: "ts" | "tsx";
  code: string;
}

/** README.md and every Markdown file under docs/, whatever pages other features added. */
export function collectDocs(root: string): DocFile[] {
  const paths = [join(root, "README.md")];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".md")) paths.push(path);
    }
  };
  walk(join(root, "docs"));
  return paths.map((path) => ({ path, text: readFileSync(path, "utf8") }));
}

/** Lines outside fenced code blocks, with their 1-based numbers. */
function proseLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let fence: string | undefined;
  text.split("\n").forEach((line, i) => {
    const opener = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (opener && (fence === undefined || opener.startsWith(fence))) {
      fence = fence === undefined ? opener : undefined;
      return;
    }
    if (fence === undefined) out.push({ line: i + 1, text: line });
  });
  return out;
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export function githubSlug(heading: string): string {
  return heading
    .replace(/`/g, "")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M} _-]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor a page offers: its headings' slugs (repeats numbered as GitHub does) and explicit `id`s. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text: line } of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const base = githubSlug(heading[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  }
  return anchors;
}

/** Links that do not resolve: a missing file, or an anchor the target page does not have. */
export function brokenLinks(files: DocFile[]): string[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const anchorCache = new Map<string, Set<string>>();
  const anchors = (path: string) => {
    let set = anchorCache.get(path);
    if (!set) anchorCache.set(path, (set = anchorsOf(byPath.get(path)?.text ?? readFileSync(path, "utf8"))));
    return set;
  };
  const problems: string[] = [];
  for (const file of files) {
    for (const { line, text } of proseLines(file.text)) {
      // Inline code is not a link.
      const prose = text.replace(/`[^`]*`/g, "``");
      for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        const [pathPart, anchor] = target.split("#", 2) as [string, string | undefined];
        const where = `${relative(process.cwd(), file.path)}:${line}`;
        const targetPath = pathPart === "" ? file.path : resolve(dirname(file.path), decodeURIComponent(pathPart));
        if (!byPath.has(targetPath) && !existsSync(targetPath)) {
          problems.push(`${where}: ${target}: no such file`);
          continue;
        }
        if (anchor !== undefined && targetPath.endsWith(".md") && !anchors(targetPath).has(anchor)) {
          problems.push(`${where}: ${target}: no heading or id "${anchor}" in ${relative(process.cwd(), targetPath)}`);
        }
      }
    }
  }
  return problems;
}

/** ```ts, ```typescript and ```tsx blocks, except those marked `no-check`. */
export function codeBlocks(file: DocFile): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = file.text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*```(\w+)(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && /^\s*```\s*$/.test(l));
    if (end < 0) break;
    const info = open[1]!.toLowerCase();
    if (["ts", "typescript", "tsx"].includes(info) && !/\bno-check\b/.test(open[2]!)) {
      blocks.push({ file: file.path, line: i + 2, lang: info === "tsx" ? "tsx" : "ts", code: lines.slice(i + 1, end).join("\n") });
    }
    i = end;
  }
  return blocks;
}

/** Words of how the package was made, which a user has no use for. */
const HISTORY_WORDS = /\b(rounds?|sessions?)\b/gi;

/** Development-history words outside code. "Round trip" and "round-robin" are about networks, not history. */
export function historyWords(files: DocFile[]): string[] {
  const problems: string[] = [];
  for (const file of files) {
    for (const { line, text } of proseLines(file.text)) {
      const prose = text.replace(/`[^`]*`/g, "").replace(/\bround[ -](trip|robin)/gi, "");
      for (const m of prose.matchAll(HISTORY_WORDS)) problems.push(`${relative(process.cwd(), file.path)}:${line}: "${m[0]}"`);
    }
  }
  return problems;
}

/**
 * `@openlivesync/server` and its subpaths, mapped to the sources their built files come from: the package's
 * `exports` (the `node` condition, else `default`) name a `dist/<entry>.js`, and tsdown.config.ts names each
 * entry's source. So the check follows files that move and needs no build.
 */
export function packagePaths(root: string, entries: Record<string, string>): Record<string, string[]> {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name: string; exports: Record<string, unknown> };
  const paths: Record<string, string[]> = {};
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const pickTarget = (t: unknown): string | undefined => {
      if (typeof t === "string") return t;
      if (t && typeof t === "object") {
        const o = t as Record<string, unknown>;
        return pickTarget(o.node ?? o.default);
      }
      return undefined;
    };
    const built = pickTarget(target);
    const entry = built && /^\.\/dist\/(.+)\.js$/.exec(built)?.[1];
    const source = entry ? entries[entry] : undefined;
    if (!source) continue;
    paths[subpath === "." ? pkg.name : `${pkg.name}${subpath.slice(1)}`] = [join(root, source)];
  }
  return paths;
}

/**
 * What a snippet may use without declaring it: the globals of Bun and Deno (their own type packages are not
 * installed here), typed loosely. Node's and the DOM's come from their real types.
 */
const AMBIENT = `declare const Bun: any;\ndeclare const Deno: any;\n`;

/** Type-check every block in one program; resolves to one line per error, naming the page and line. */
export function typeCheckBlocks(root: string, blocks: CodeBlock[], entries: Record<string, string>): string[] {
  const virtualDir = join(root, "docs");
  const files = new Map<string, { block?: CodeBlock; text: string }>();
  blocks.forEach((block, i) => {
    // Every block is a module of its own: its names do not clash with another's, and top-level await works.
    files.set(join(virtualDir, `__docs_block_${i}.${block.lang}`), { block, text: `${block.code}\nexport {};\n` });
  });
  const ambient = join(virtualDir, "__docs_ambient.d.ts");
  files.set(ambient, { text: AMBIENT });

  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ["lib.es2023.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
    types: ["node"],
    strict: true,
    noUncheckedIndexedAccess: true,
    verbatimModuleSyntax: false,
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
    resolveJsonModule: true,
    jsx: ts.JsxEmit.ReactJSX,
    paths: packagePaths(root, entries),
  };
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (path) => files.has(path) || fileExists.call(host, path);
  host.readFile = (path) => files.get(path)?.text ?? readFile.call(host, path);
  host.getSourceFile = (path, language, onError, create) => {
    const virtual = files.get(path);
    return virtual ? ts.createSourceFile(path, virtual.text, language, true) : getSourceFile.call(host, path, language, onError, create);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const problems: string[] = [];
  for (const [path, { block }] of files) {
    if (!block) continue;
    const source = program.getSourceFile(path)!;
    const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)];
    for (const d of diagnostics) {
      const { line } = d.start === undefined ? { line: 0 } : source.getLineAndCharacterOfPosition(d.start);
      problems.push(`${relative(process.cwd(), block.file)}:${block.line + line}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
    }
  }
  return problems;
}
