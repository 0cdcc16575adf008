/**
 * Base64 with the globals every runtime has (`btoa`, `atob`), not Node's `Buffer`: the core runs on Node,
 * Bun, Deno and workerd alike. Bytes go through a binary string in chunks (no spread of a huge array).
 */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let at = 0; at < bytes.length; at += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(at, at + 0x8000) as unknown as number[]);
  }
  return btoa(binary);
}

/** Throws on text that is not base64 (`atob`'s `InvalidCharacterError`). */
export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
