/**
 * The demo page the CLI serves at `/demo` on Node: two tabs on it see each other's cursors, the member
 * list and the chat. It loads the client from the built package (`dist/client.js` and the chunks it imports),
 * so what it shows is exactly what users of `@openlivesync/server/client` get. No build step for the user.
 */
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { demoPage } from "./demo-page.ts";
import { createModuleServer, importMap, MODULES_PATH } from "./demo-modules.ts";

/** What the demo needs of Node's `http.Server`: its request listeners, to put itself in front of them. */
interface RequestEmitterLike {
  // biome-ignore lint/complexity/noBannedTypes: Node types it as Function[]; only the count is read.
  listeners(event: "request"): Function[];
  removeAllListeners(event: "request"): unknown;
  on(event: "request", listener: (req: IncomingMessage, res: ServerResponse) => void): unknown;
}

export const DEMO_PATH = "/demo";

/** The client bundle and every chunk it imports, by file name, read once from the directory of this bundle. */
async function clientFiles(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const visit = async (name: string) => {
    if (files.has(name)) return;
    const text = await readFile(join(dir, name), "utf8");
    files.set(name, text);
    for (const match of text.matchAll(/from\s*"\.\/([\w.-]+\.js)"/g)) await visit(match[1]!);
  };
  await visit("client.js");
  return files;
}

/**
 * Serve the demo at `/demo` in front of `server`'s own handlers. Resolves to the page's path, or to
 * undefined when the built client is not next to this file (running from source).
 */
export async function mountDemo(server: RequestEmitterLike, wsPath: string, docsPath?: string): Promise<string | undefined> {
  let files: Map<string, string>;
  let modules: ReturnType<typeof createModuleServer>;
  try {
    files = await clientFiles(dirname(fileURLToPath(import.meta.url)));
    modules = createModuleServer();
  } catch {
    return undefined;
  }
  const page = demoPage({ wsPath, docsPath: docsPath ?? null, clientUrl: `${DEMO_PATH}/client.js`, importMap: importMap(DEMO_PATH) });
  const modulePrefix = `${DEMO_PATH}${MODULES_PATH}/`;
  const handlers = server.listeners("request");
  server.removeAllListeners("request");
  server.on("request", (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (req.method === "GET" && (path === DEMO_PATH || path === `${DEMO_PATH}/`)) return send(res, "text/html; charset=utf-8", page);
    const file = path.startsWith(`${DEMO_PATH}/`) ? files.get(path.slice(DEMO_PATH.length + 1)) : undefined;
    if (req.method === "GET" && file !== undefined) return send(res, "text/javascript; charset=utf-8", file);
    if (req.method === "GET" && path.startsWith(modulePrefix)) {
      return void modules(path.slice(modulePrefix.length)).then(
        (text) => (text === undefined ? send(res, "text/plain", "Not found", 404) : send(res, "text/javascript; charset=utf-8", text)),
        () => send(res, "text/plain", "Not found", 404),
      );
    }
    for (const handler of handlers) handler.call(server, req, res);
  });
  return DEMO_PATH;
}

function send(res: ServerResponse, type: string, body: string, status = 200) {
  res.writeHead(status, { "content-type": type, "cache-control": "no-cache" });
  res.end(body);
}
