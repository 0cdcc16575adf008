/**
 * A frame-level fuzz of the Deno front (the JSON-level one is test/fuzz.test.ts): random sequences of
 * client frames (messages whole or fragmented, pings between fragments, at most one protocol error of
 * RFC 6455 or maxPayload), cut at random points, against a real Deno server. Every message before the
 * bad frame is answered, every frame the client gets back is a valid server frame, and the bad frame
 * closes the connection with Node's code. The server-to-client side is fuzzed without Deno: Deno's frames
 * cut anywhere, engine frames put in between, come out whole and in order.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ClientWriter } from "../../adapters/deno/front/client-writer.ts";
import { encodeFrame, encodeTextFrame } from "../../adapters/shared/ws-frame.ts";
import { protocolErrors } from "./protocol-errors.ts";
import { frame, serverFrames, sleep, start, until, upgrade } from "./raw-client.ts";

const MAX_PAYLOAD = 4096;

/** One client message: its text, sent whole or in fragments with pings between them. */
const message = fc.record({
  text: fc.string({ unit: "grapheme", maxLength: 60 }).map((s) => JSON.stringify({ type: "fuzz", payload: { s } })),
  fragments: fc.integer({ min: 1, max: 4 }),
  pings: fc.boolean(),
});
type Message = typeof message extends fc.Arbitrary<infer T> ? T : never;

/** The frames of `m`: its UTF-8 cut into `fragments` pieces (any byte, so inside a character too). */
function framesOf(m: Message, index: number): Buffer[] {
  const bytes = Buffer.from(m.text);
  const size = Math.ceil(bytes.length / m.fragments);
  const out: Buffer[] = [];
  for (let at = 0, n = 0; at < bytes.length; at += size, n++) {
    const last = at + size >= bytes.length;
    out.push(frame(n === 0 ? 1 : 0, bytes.subarray(at, at + size), { fin: last }));
    if (m.pings && !last) out.push(frame(9, Buffer.from(`p${index}`)));
  }
  return out;
}

const badFrames: Array<[string, Buffer, number]> = [
  ...protocolErrors,
  ["a message past maxPayload", frame(1, Buffer.alloc(MAX_PAYLOAD + 1, 0x61)), 1009],
];

/** Writes `bytes` in pieces of the given sizes (cycled), each its own write a turn apart. */
async function writeCut(socket: import("node:net").Socket, bytes: Buffer, cuts: number[]) {
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = cuts[i % cuts.length]!;
    socket.write(bytes.subarray(at, at + size));
    at += size;
    if (i % 3 === 2) await sleep(1);
  }
}

/** Every server frame is FIN, unmasked, of a known opcode; text frames are UTF-8. */
function expectValidServerFrames(frames: Array<[number, Buffer]>, raw: Buffer) {
  for (const [opcode, payload] of frames) {
    expect([1, 8, 9, 10]).toContain(opcode);
    if (opcode === 1) expect(() => new TextDecoder("utf-8", { fatal: true }).decode(payload)).not.toThrow();
  }
  let at = raw.indexOf("\r\n\r\n") + 4;
  for (const [, payload] of frames) {
    expect(raw[at]! & 0xf0).toBe(0x80); // FIN, no RSV
    expect(raw[at + 1]! & 0x80).toBe(0); // unmasked
    at += (payload.length < 126 ? 2 : payload.length < 65536 ? 4 : 10) + payload.length;
  }
}

describe("Deno front: frame-level fuzz", () => {
  let port = 0;
  beforeAll(async () => {
    port = await start({ rateLimit: false, maxPayload: MAX_PAYLOAD });
  }, 30_000);

  it("answers every message before a bad frame, in valid frames, and closes at the bad frame with Node's code", async () => {
    const run = fc.record({
      messages: fc.array(message, { minLength: 1, maxLength: 6 }),
      bad: fc.option(fc.record({ at: fc.nat(), which: fc.nat({ max: badFrames.length - 1 }) }), { nil: undefined }),
      cuts: fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 8 }),
    });
    await fc.assert(
      fc.asyncProperty(run, async ({ messages, bad, cuts }) => {
        const c = await upgrade(port);
        try {
          const before = bad ? messages.slice(0, bad.at % (messages.length + 1)) : messages;
          const frames = before.flatMap((m, i) => framesOf(m, i));
          const [, badBytes, code] = bad ? badFrames[bad.which]! : [];
          await writeCut(c.socket, Buffer.concat(badBytes ? [...frames, badBytes] : frames), cuts);
          const errors = () => c.messages().filter((m) => m.type === "error").length;
          const pongs = () => c.frames().filter(([opcode]) => opcode === 10).length;
          const pings = frames.filter((f) => (f[0]! & 0x0f) === 9).length;
          if (code === undefined) {
            await until(() => errors() === before.length && pongs() === pings, 5000);
            expect(await c.closeCode(50)).toBe("open");
          } else {
            expect(await c.closeCode()).toBe(code);
          }
          expectValidServerFrames(c.frames(), c.received());
        } finally {
          c.socket.destroy();
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});

describe("Deno front's writer: fuzz", () => {
  it("keeps Deno's frames, cut anywhere, and the engine's frames whole and in order", async () => {
    const run = fc.record({
      deno: fc.array(fc.tuple(fc.constantFrom(1, 9, 10), fc.nat({ max: 300 })), { maxLength: 10 }),
      engine: fc.array(fc.nat({ max: 70_000 }), { maxLength: 6 }),
      cuts: fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 6 }),
      order: fc.array(fc.boolean(), { maxLength: 40 }),
    });
    await fc.assert(
      fc.asyncProperty(run, async ({ deno, engine, cuts, order }) => {
        const written: Uint8Array[] = [];
        const writer = new ClientWriter({ write: async (bytes) => (written.push(Uint8Array.from(bytes)), bytes.length) }, () => {});
        await writer.upgrade(new TextEncoder().encode("HTTP/1.1 101 Switching Protocols\r\n\r\n"), new Uint8Array(0));
        const denoStream = Buffer.concat(
          deno.map(([opcode, n], i) => Buffer.from(encodeFrame(opcode, Buffer.from(`d${i}:`.padEnd(n, "x"))))),
        );
        const engineFrames = engine.map((n, i) => encodeTextFrame(`e${i}:`.padEnd(n, "y")));
        const relayed: Promise<void>[] = [];
        let at = 0;
        let next = 0;
        for (let i = 0; at < denoStream.length || next < engineFrames.length; i++) {
          const relayNext = at < denoStream.length && (next >= engineFrames.length || order[i % Math.max(1, order.length)]);
          if (relayNext) {
            const size = cuts[i % cuts.length]!;
            relayed.push(writer.relay(denoStream.subarray(at, at + size)));
            at += size;
          } else writer.frame(engineFrames[next++]!);
        }
        await Promise.all(relayed);
        await sleep(0);
        const all = Buffer.concat(written);
        const frames = serverFrames(all.subarray(all.indexOf("\r\n\r\n") + 4)).map(([, p]) => p.toString());
        expect(frames.filter((f) => f.startsWith("d"))).toEqual(deno.map(([, n], i) => `d${i}:`.padEnd(n, "x")));
        expect(frames.filter((f) => f.startsWith("e"))).toEqual(engine.map((n, i) => `e${i}:`.padEnd(n, "y")));
      }),
      { numRuns: 200 },
    );
  });
});
