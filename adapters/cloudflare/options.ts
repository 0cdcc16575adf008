import { ConfigError } from "../../src/errors.ts";
import type { WebSocketServerOptions } from "../../src/options.ts";

/** Options of `createLiveWorker`: the server's options, minus what the edge does otherwise. */
export interface CloudflareOptions extends WebSocketServerOptions {
  /**
   * Name of the Durable Object namespace binding that holds the rooms (`[[durable_objects.bindings]]`
   * in wrangler.toml, bound to the exported room class).
   * @default "ROOMS"
   */
  binding?: string;
  /**
   * `GET /readyz` and `GET /metrics` on the Worker (`/metrics?room=<id>&room=<id>` sums those rooms'
   * objects' figures). `false` turns both off.
   * @default true
   */
  monitoring?: boolean;
}

/** Options, or options built from the Worker's `env` (secrets and vars live there). */
export type CloudflareOptionsInput = CloudflareOptions | ((env: Record<string, unknown>) => CloudflareOptions);

/** The Worker forwards what it decided at the upgrade to the room's object in these headers (clients' own are dropped). */
export const ROOM_HEADER = "x-openlivesync-room";
export const USER_HEADER = "x-openlivesync-user";

/** The options for one `env`, built once per `env` object and checked for what the edge cannot do. */
export function optionsResolver(input: CloudflareOptionsInput): (env: Record<string, unknown>) => CloudflareOptions {
  const cache = new WeakMap<object, CloudflareOptions>();
  return (env) => {
    let options = cache.get(env);
    if (options) return options;
    options = typeof input === "function" ? input(env) : input;
    if (options.backplane) {
      throw new ConfigError(
        "createLiveWorker: remove `backplane`. At the edge each room is one Durable Object, so no backplane is needed.",
      );
    }
    cache.set(env, options);
    return options;
  };
}
