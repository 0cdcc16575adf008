// Lists every function in src/ and adapters/ longer than a limit and every file longer than a limit.
// The issue-10 shape: files mostly under ~250 lines (one job each), no function over ~80 lines.
//   node bench/sizes.mjs                   functions > 80 lines, files > 300 lines; exit 1 if any
//   node bench/sizes.mjs --fn 60 --file 250 --all   other limits; --all prints every file's longest function
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

const root = new URL("..", import.meta.url).pathname;
const argValue = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const fnLimit = argValue("--fn", 80);
const fileLimit = argValue("--file", 300);
const all = process.argv.includes("--all");

function* tsFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* tsFiles(path);
    else if (/\.tsx?$/.test(name) && !name.endsWith(".d.ts")) yield path;
  }
}

function nameOf(node, source) {
  if (node.name) return node.name.getText(source);
  if (ts.isConstructorDeclaration(node)) return "constructor";
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))
    return parent.name.getText(source);
  if (ts.isCallExpression(parent)) return `(callback of ${parent.expression.getText(source).slice(0, 40)})`;
  return "(anonymous)";
}

/** Every function-like node with its line count (first to last line, inclusive). */
function functionsOf(path) {
  const text = readFileSync(path, "utf8");
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.end).line;
      found.push({ name: nameOf(node, source), line: first + 1, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { lines: text.split("\n").length - (text.endsWith("\n") ? 1 : 0), functions: found };
}

let over = 0;
for (const dir of ["src", "adapters"]) {
  for (const path of tsFiles(join(root, dir))) {
    const rel = relative(root, path);
    const { lines, functions } = functionsOf(path);
    const longest = functions.reduce((a, b) => (b.lines > (a?.lines ?? 0) ? b : a), undefined);
    if (all) console.log(`${rel}\t${lines}\t${longest ? `${longest.name} ${longest.lines}` : "-"}`);
    if (lines > fileLimit) {
      over++;
      console.log(`file ${rel}: ${lines} lines`);
    }
    for (const fn of functions) {
      if (fn.lines <= fnLimit) continue;
      over++;
      console.log(`function ${rel}:${fn.line} ${fn.name}: ${fn.lines} lines`);
    }
  }
}
process.exitCode = over ? 1 : 0;
