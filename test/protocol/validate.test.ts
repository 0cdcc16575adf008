import { describe, expect, it } from "vitest";
import { ProtocolError } from "../../src/errors.ts";
import { resolveOptions } from "../../src/options.ts";
import { createMessageParser } from "../../src/protocol/validate.ts";

const options = resolveOptions({});
const parse = createMessageParser(options);

/** Whether the parser refuses `raw` for its nesting. */
function refusedAsDeep(raw: string): boolean {
  try {
    parse(raw);
    return false;
  } catch (error) {
    return error instanceof ProtocolError && /nests deeper/.test(error.message);
  }
}

const nest = (n: number, open: string, close: string) => `${open.repeat(n)}1${close.repeat(n)}`;

describe("message depth check", () => {
  it("refuses exactly the values nested deeper than maxJsonDepth, arrays and objects alike", () => {
    const max = options.maxJsonDepth;
    for (let n = max - 3; n <= max + 3; n++) {
      // `n` containers in the user's value (the presence object is the first of them).
      const frames = [
        `{"type":"update_presence","payload":{"presence":{"a":${nest(n - 1, '{"a":', "}")}}}}`,
        `{"type":"broadcast_event","payload":{"event":"e","payload":${nest(n, "[", "]")}}}`,
        `{"type":"broadcast_event","payload":{"event":"e","payload":${nest(n / 2, '[{"b":', "}]")}}}`,
        // Brackets inside strings are text, not nesting; a \u escape has the text checked too.
        `{"type":"broadcast_event","payload":{"event":"${"{[".repeat(max)}","payload":${nest(n, "[", "]")}}}`,
        `{"type":"broadcast_event","payload":{"event":"\\u0041","payload":${nest(n, "[", "]")}}}`,
      ];
      for (const [i, raw] of frames.entries()) {
        if (i === 2 && n % 2 !== 0) continue;
        expect(refusedAsDeep(raw), `${n} levels: ${raw.slice(0, 80)}`).toBe(n > max);
      }
    }
  });

  it("counts the message object and its payload as levels too, and passes short frames", () => {
    const levels = options.maxJsonDepth + 2; // a payload this deep puts the message one level past the limit
    const payload = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
    expect(refusedAsDeep(`{"type":"x","payload":${payload(levels)}}`)).toBe(true);
    expect(refusedAsDeep(`{"type":"x","payload":${payload(levels - 1)}}`)).toBe(false);
    expect(() => parse('{"type":"update_presence","payload":{"presence":{"x":1,"y":2}}}')).not.toThrow();
  });
});
