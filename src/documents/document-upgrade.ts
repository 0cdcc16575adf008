import type { Hooks } from "crossws";
import type { UserInfo } from "../protocol/messages.ts";
import type { TokenVerifier } from "../options.ts";
import { MAX_DOCUMENT_NAME_LENGTH } from "./options.ts";

/** What the upgrade leaves in the peer's context for `open`. */
export interface DocumentContext {
  user: UserInfo | undefined;
  /** The y-websocket document name; absent for the Hocuspocus endpoint (`path` itself). */
  name?: string;
}

export interface UpgradeDeps {
  path: string;
  /** The rooms' upgrade checks (shutdown, guard, `onAuth`): a refusal, or the user. */
  admit(request: Request): Promise<Response | { context: { user: UserInfo } } | undefined>;
  verifyToken: TokenVerifier | undefined;
  closing(): boolean;
}

/** A verified token's claims as the user (`userId` from `sub`), as rooms do. */
export function userOf(decoded: UserInfo & { sub?: unknown; exp?: number }): UserInfo {
  const { sub, exp: _exp, ...claims } = decoded;
  return { ...claims, userId: decoded.userId ?? sub } as UserInfo;
}

/** The token a y-websocket client sends: `?token=` in the URL or `Authorization: Bearer`. */
function tokenOf(request: Request, url: URL): string | undefined {
  const fromQuery = url.searchParams.get("token");
  if (fromQuery) return fromQuery;
  const header = request.headers.get("authorization");
  return header?.toLowerCase().startsWith("bearer ") ? header.slice(7).trim() || undefined : undefined;
}

/** The document name in a y-websocket URL (`${path}/<name>`), or a refusal. */
function nameOf(pathname: string, path: string): string | Response {
  let name: string;
  try {
    name = decodeURIComponent(pathname.slice(path.length + 1));
  } catch {
    return new Response("Malformed document name", { status: 400 });
  }
  if (name === "" || name.length > MAX_DOCUMENT_NAME_LENGTH) {
    return new Response(`Document name must be 1 to ${MAX_DOCUMENT_NAME_LENGTH} characters`, { status: 400 });
  }
  return name;
}

/**
 * The documents' upgrade: the rooms' checks, then a token of the document's own (y-websocket's query
 * parameter or header) verified as rooms verify theirs, and the document name from the path.
 */
export function documentUpgrade(deps: UpgradeDeps): NonNullable<Hooks["upgrade"]> {
  const { path } = deps;
  return async (request) => {
    if (deps.closing()) return new Response("Server is shutting down", { status: 503 });
    const admitted = await deps.admit(request);
    if (admitted instanceof Response) return admitted;
    let user = admitted?.context.user;
    const url = new URL(request.url, "http://localhost");
    const token = tokenOf(request, url);
    if (token !== undefined && deps.verifyToken) {
      const decoded = await deps.verifyToken(token);
      if (!decoded) return new Response("Unauthorized", { status: 401 });
      user = userOf(decoded);
    }
    const context: DocumentContext = { user };
    if (url.pathname !== path) {
      const name = nameOf(url.pathname, path);
      if (name instanceof Response) return name;
      context.name = name;
    }
    return { context: context as unknown as Record<string, unknown> };
  };
}
