/** JSON helpers shared by validation, the engine and the cluster code. */

const encoder = new TextEncoder();

/** A plain JSON object: not null, not an array, prototype Object.prototype or null. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * UTF-8 length of `text`, measured only when it could matter: a string of n UTF-16 units has at most
 * 3n UTF-8 bytes, so when 3n ≤ `bound` the answer is "at most n" and no encoding is needed. The result
 * is exact whenever it is compared against `bound`.
 */
export function byteLength(text: string, bound: number): number {
  return text.length * 3 <= bound ? text.length : encoder.encode(text).length;
}
