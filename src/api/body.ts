/**
 * A request's JSON body, read with a size bound: a body over `maxBytes` is refused (`TOO_LARGE`) from its
 * `Content-Length`, or as soon as the bytes read pass the bound, before any of it is parsed or kept.
 */
import { ErrorCodes } from "../errors.ts";
import { isPlainObject } from "../util/json.ts";
import { ApiError } from "./errors.ts";

/** The body parsed as a JSON object, or an `ApiError` (`TOO_LARGE`, `INVALID_JSON`, `INVALID_PAYLOAD`). */
export async function readJsonObject(request: Request, maxBytes: number): Promise<Record<string, unknown>> {
  const text = await readText(request, maxBytes);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(ErrorCodes.INVALID_JSON, "Body is not valid JSON");
  }
  if (!isPlainObject(body)) throw new ApiError(ErrorCodes.INVALID_PAYLOAD, "Body must be a JSON object");
  return body;
}

async function readText(request: Request, maxBytes: number): Promise<string> {
  const tooLarge = () => new ApiError(ErrorCodes.TOO_LARGE, `Body is larger than ${maxBytes} bytes`);
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge();
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      void reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  // Invalid UTF-8 is refused like invalid JSON, rather than read as U+FFFD.
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError(ErrorCodes.INVALID_JSON, "Body is not valid UTF-8");
  }
}
