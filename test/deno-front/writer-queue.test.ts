/**
 * The Deno front's client writer keeps one queue array and empties it into each write (client-writer.ts):
 * a new array per batch made V8 keep queued frames into its old generation on Deno (bench/README.md,
 * "Deno's peak RSS"). Without Deno, through a fake client whose writes finish when the test says.
 */
import { describe, expect, it } from "vitest";
import { ClientWriter } from "../../adapters/deno/front/client-writer.ts";
import { encodeTextFrame as textFrame } from "../../adapters/shared/ws-frame.ts";

/** A client whose writes finish one at a time, on `release()`. */
function slowClient() {
  const written: string[] = [];
  const waiting: Array<() => void> = [];
  return {
    written,
    release: () => waiting.shift()?.(),
    write(bytes: Uint8Array): Promise<number> {
      written.push(Buffer.from(bytes).toString("latin1"));
      return new Promise((resolve) => waiting.push(() => resolve(bytes.length)));
    },
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
const queueOf = (writer: ClientWriter) => (writer as unknown as { queue: Uint8Array[] }).queue;

describe("front writer queue", () => {
  it("empties its one queue array into each write and holds no frame once it is written", async () => {
    const client = slowClient();
    const writer = new ClientWriter(client, () => {});
    const queue = queueOf(writer);
    const upgraded = writer.upgrade(new TextEncoder().encode("HTTP/1.1 101 Switching Protocols\r\n\r\n"), new Uint8Array(0));
    // The 101 is out in a write: the queue no longer holds it.
    expect(client.written).toHaveLength(1);
    expect(queueOf(writer)).toBe(queue);
    expect(queue).toHaveLength(0);
    writer.frame(textFrame("a"));
    writer.frame(textFrame("b"));
    expect(queueOf(writer)).toBe(queue);
    expect(queue).toHaveLength(2);
    client.release();
    await upgraded;
    await tick();
    // Both frames went out as the next write, from the same array, now empty again.
    expect(client.written).toHaveLength(2);
    expect(client.written[1]).toBe("\x81\x01a\x81\x01b");
    expect(queueOf(writer)).toBe(queue);
    expect(queue).toHaveLength(0);
    expect(writer.buffered).toBe(2 * 3);
    client.release();
    await tick();
    expect(writer.buffered).toBe(0);
    expect(queueOf(writer)).toBe(queue);
  });
});
