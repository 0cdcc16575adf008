import { connect } from "node:net";
import { describe, it } from "vitest";

/** Postgres the storage tests use; trust auth on this machine. */
export const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
/** MySQL/MariaDB the storage tests use. */
export const MYSQL_URL = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
/** Redis for the backplane tests. */
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

const DEFAULT_PORTS: Record<string, number> = { "postgres:": 5432, "postgresql:": 5432, "mysql:": 3306, "redis:": 6379 };

/** Resolves to undefined when a TCP connection to the URL's host:port opens, or to the reason it did not. */
export function probe(url: string, timeoutMs = 2000): Promise<string | undefined> {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1";
  const port = Number(u.port) || DEFAULT_PORTS[u.protocol] || 0;
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (reason?: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(() => done(`no answer from ${host}:${port} within ${timeoutMs} ms`), timeoutMs);
    socket.once("connect", () => done());
    socket.once("error", (error) => done(`${host}:${port}: ${error.message}`));
  });
}

/**
 * Run `suite` when the service answers. When it does not: under CI=true a test fails with the reason;
 * elsewhere the suite is skipped and one line says why.
 */
export async function describeWithService(name: string, url: string, envName: string, suite: () => void): Promise<void> {
  const reason = await probe(url);
  if (!reason) {
    suite();
    return;
  }
  if (process.env.CI === "true") {
    describe(name, () => {
      it(`reaches ${name} at ${envName} (required when CI=true)`, () => {
        throw new Error(`${name} is unreachable (${reason}). Start it or set ${envName}.`);
      });
    });
    return;
  }
  console.warn(`[skip] ${name} tests skipped: ${reason}. Start it or set ${envName}; under CI=true this fails.`);
  describe.skip(name, () => {
    it("needs the service", () => {});
  });
}
