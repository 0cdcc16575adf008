import { describe, expect, it } from "vitest";
import { eventFrame, eventFrameFrom, eventFrameHead } from "../../src/protocol/frames.ts";
import { withOffset } from "../../src/engine/streams.ts";

describe("relayed events built from a per-sender head", () => {
  const payloads: unknown[] = [
    undefined,
    null,
    0,
    -1.5e-7,
    "",
    'quote " backslash \\ newline \n tab \t nul-free é 😀 \u2028',
    [],
    [1, "two", { three: [null, true] }],
    { t: 1234.567, s: 42 },
    { nested: { deep: { deeper: ["x"] } }, 'key with "quotes"': 1 },
    new Date(0),
    () => 1,
  ];
  const senders: [string, string, string | undefined][] = [
    ["room-1", "c-1", undefined],
    ['room "quoted" é', "3f2a9c1e-1111-2222-3333-444455556666", "user-1"],
    ["r", "c", ""],
  ];

  it("are byte for byte what eventFrame encodes, with and without an offset", () => {
    for (const [roomId, connectionId, userId] of senders) {
      const head = eventFrameHead(roomId, connectionId, userId);
      for (const payload of payloads) {
        for (const event of ["tick", 'e"v\\nt', "ünï"]) {
          const expected = eventFrame({ roomId, connectionId, userId, event, payload });
          const built = eventFrameFrom(head, event, payload);
          expect(built).toBe(expected);
          expect(withOffset(built, 7)).toBe(withOffset(expected, 7));
        }
      }
    }
  });
});
