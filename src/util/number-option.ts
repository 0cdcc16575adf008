import { ConfigError } from "../errors.ts";

/** Which numbers an option accepts: zero included (sizes, intervals where 0 disables) or not (periods). */
export type NumberRange = "non-negative" | "positive";

/**
 * `value` when it is a finite number in `range`, `fallback` when it is undefined; otherwise throws a
 * `ConfigError` naming the option. One checker for every numeric option (server and backplane).
 * @example
 * const heartbeatMs = numberOption("heartbeatMs", options.heartbeatMs, 2000, "positive");
 */
export function numberOption(name: string, value: number | undefined, fallback: number, range: NumberRange = "non-negative"): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || (range === "positive" && value === 0)) {
    throw new ConfigError(`Option ${name} must be a ${range} number, got ${String(value)}`);
  }
  return value;
}
