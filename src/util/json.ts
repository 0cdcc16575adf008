/** Small helpers for JSON values and UTF-8 text, shared by validation, the engine and the cluster code. */

/** A plain JSON object: not null, not an array, and made by `{}` or `JSON.parse` (prototype Object or null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * The UTF-8 size of `text` in bytes, counted without encoding it (no allocation). ASCII text costs one
 * comparison per character. A lone surrogate counts 3 bytes, as `TextEncoder` writes U+FFFD for it.
 */
export function byteLength(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a surrogate pair: 2 UTF-16 units, 4 bytes
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * Whether `text` takes more than `limit` bytes in UTF-8. Answers without counting when the length alone
 * decides (a UTF-16 unit is 1 to 3 bytes), which is most frames: short ones, and ones longer than the limit.
 * @example
 * if (exceedsBytes(raw, maxPayload)) close(1009);
 */
export function exceedsBytes(text: string, limit: number): boolean {
  if (text.length > limit) return true;
  if (text.length * 3 <= limit) return false;
  return byteLength(text) > limit;
}

/**
 * A string that is equal for equal values: object keys sorted, `undefined` fields left out, and each
 * function (or other non-JSON object) named by its identity. For cache keys built from option literals.
 * @example
 * stableKey({ b: 1, a: [2] }) === stableKey({ a: [2], b: 1 }); // true
 */
export function stableKey(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "function" || typeof value === "symbol") return `#${identity(value)}`;
    return value === undefined ? "undefined" : typeof value === "bigint" ? `${value}n` : JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(stableKey).join(",")}]`;
  if (!isPlainObject(value)) return `#${identity(value)}`;
  const fields = Object.keys(value)
    .filter((key) => value[key] !== undefined)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${stableKey(value[key])}`);
  return `{${fields.join(",")}}`;
}

const identities = new WeakMap<object, number>();
let nextIdentity = 0;
function identity(value: unknown): string {
  if (typeof value === "symbol") return String(value);
  const key = value as object;
  let id = identities.get(key);
  if (id === undefined) identities.set(key, (id = ++nextIdentity));
  return String(id);
}
