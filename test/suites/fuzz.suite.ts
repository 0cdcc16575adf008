/**
 * Property-based fuzzing over real sockets: random and half-valid frames from one client must get only
 * documented answers, never crash the server, and leave a bystander room untouched. A fixed seed in
 * `npm test`; `FUZZ_RUNS=2000 FUZZ_SEED=… npx vitest run test/security/fuzz.test.ts` (or the bench) runs longer.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CloseCodes, ErrorCodes } from "../../src/protocol/codes.ts";
import { TestClient, type Received } from "../helpers/client.ts";
import type { Fixture, StartFixture } from "./wire-protocol.suite.ts";

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
const SEED = Number(process.env.FUZZ_SEED ?? 20261129);
const MAX_PAYLOAD = 8192;

const SERVER_TYPES = new Set(["room_joined", "presence_updated", "broadcast_event", "chat_message", "error"]);
const ERROR_CODES = new Set<string>(Object.values(ErrorCodes));
/** Close codes a fuzzing client may see: the server's documented ones, 1005 (no code) and 1006 (TCP ended). */
const CLOSE_CODES = new Set<number>([...Object.values(CloseCodes), 1005, 1006]);
const CLIENT_TYPES = ["join_room", "leave_room", "update_presence", "broadcast_event", "send_chat"];

/** Strings that break naive code: lone surrogates, NUL, `__proto__`, long, numeric, empty. */
const nasty = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("", "\u0000", "\ud800", "\udfff x", "__proto__", "constructor", "toString", "a".repeat(300), "1e400", "-0"),
);
const value: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: "small" },
  nasty,
  fc.jsonValue({ maxDepth: 4 }),
  fc.constantFrom(null, true, 0, -1, 1e308, NaN, Infinity),
  fc.dictionary(nasty, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);
/** Depth past `maxJsonDepth` (32), as text: JSON.stringify is not the client here. */
const deep = fc
  .integer({ min: 30, max: 2000 })
  .map((n) => `{"type":"update_presence","payload":{"presence":${'{"a":'.repeat(n)}1${"}".repeat(n)}}}`);

/** One frame: a message of a known type with random fields, random JSON, or random text. */
const frame: fc.Arbitrary<string> = fc.oneof(
  fc
    .record(
      {
        type: fc.oneof(fc.constantFrom(...CLIENT_TYPES), nasty),
        payload: fc.oneof(
          value,
          fc.record(
            {
              roomId: fc.oneof(fc.constantFrom("fuzz", "fuzz-2"), nasty, value),
              presence: value,
              message: value,
              event: value,
              payload: value,
              metadata: value,
              accessToken: value,
            },
            { requiredKeys: [] },
          ),
        ),
      },
      { requiredKeys: [] },
    )
    .map((m) => JSON.stringify(m) ?? "null"),
  fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
  fc.string({ unit: "grapheme", maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 200 }),
  deep,
  fc.integer({ min: MAX_PAYLOAD - 64, max: MAX_PAYLOAD * 2 }).map((n) => `{"type":"send_chat","payload":{"message":"${"x".repeat(n)}"}}`),
);

function problems(received: Received[], closeCode: number | undefined): string[] {
  const out: string[] = [];
  for (const { type, payload } of received) {
    if (!SERVER_TYPES.has(type)) out.push(`undocumented frame type ${type}`);
    if (type !== "error") continue;
    const code = (payload as { code?: string })?.code;
    if (!code || !ERROR_CODES.has(code)) out.push(`undocumented error code ${String(code)}`);
    if (code === ErrorCodes.INTERNAL_ERROR) out.push(`INTERNAL_ERROR: ${(payload as { message?: string }).message}`);
  }
  if (closeCode !== undefined && !CLOSE_CODES.has(closeCode)) out.push(`undocumented close code ${closeCode}`);
  return out;
}

export function fuzzSuite(runtime: string, start: StartFixture) {
  describe(`fuzzing ${runtime}`, () => {
    let fixture: Fixture;
    const bystanders: TestClient[] = [];
    beforeAll(async () => {
      fixture = await start({ maxPayload: MAX_PAYLOAD, rateLimit: { messagesPerSecond: 1e6, bytesPerSecond: 1e9 } });
      for (const name of ["b1", "b2"]) {
        const c = new TestClient(fixture.wsUrl);
        bystanders.push(c);
        await c.join("bystander", { name });
      }
      await bystanders[0]!.next("presence_updated"); // b2's arrival: from here on the room is quiet
    }, 30_000);
    afterAll(async () => {
      for (const c of bystanders) c.terminate();
      await fixture?.stop();
    });

    it("answers random frames only with documented codes, and a bystander room goes on", async () => {
      const [b1, b2] = bystanders as [TestClient, TestClient];
      const heardBefore = b1.received.length + b2.received.length;
      let frames = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(frame, { minLength: 5, maxLength: 40 }), async (sequence) => {
          const c = new TestClient(fixture.wsUrl);
          let closeCode: number | undefined;
          c.ws.on("close", (code) => (closeCode = code));
          try {
            await c.opened;
            for (const f of sequence) if (c.ws.readyState === 1) c.sendRaw(f);
            frames += sequence.length;
            // A sentinel answered in order after every frame above (unless the server closed the socket).
            if (c.ws.readyState === 1) c.sendRaw("sentinel: not json");
            const last = (r: Received[]) => r[r.length - 1];
            await c.until(
              (r) =>
                closeCode !== undefined ||
                (last(r)?.type === "error" && (last(r)!.payload as { code?: string }).code === ErrorCodes.INVALID_JSON),
              10_000,
            );
            const found = problems(c.received, closeCode);
            expect(found, found.join("; ")).toEqual([]);
          } finally {
            c.terminate();
          }
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
      expect(frames).toBeGreaterThan(RUNS);
      console.log(`fuzz ${runtime}: ${RUNS} connections, ${frames} frames, seed ${SEED}`);
      expect(b1.received.length + b2.received.length).toBe(heardBefore); // nothing reached the bystanders

      // The bystander room: both members still there, and they still hear each other.
      b1.send("update_presence", { presence: { name: "b1", after: true } });
      const update = await b2.next("presence_updated");
      expect(JSON.stringify(update.payload)).toContain('"after":true');
      b2.send("send_chat", { message: "still here" });
      expect((await b1.next("chat_message")).payload).toMatchObject({ message: "still here" });
      // And the server takes new connections.
      const late = new TestClient(fixture.wsUrl);
      try {
        expect(await late.join("bystander")).toMatchObject({ roomId: "bystander" });
      } finally {
        late.terminate();
      }
    }, 120_000);
  });
}
