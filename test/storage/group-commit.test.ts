import { describe, expect, it } from "vitest";
import { createGroupCommit } from "../../src/storage/group-commit.ts";

describe("group commit", () => {
  it("writes rows pushed in one turn as one batch, in push order", async () => {
    const writes: number[][] = [];
    const commit = createGroupCommit<number>(async (rows) => void writes.push(rows), String);
    await Promise.all(Array.from({ length: 10 }, (_, i) => commit.push(i)));
    expect(writes).toStrictEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
  });

  it("gathers rows that arrive while a write is in flight into the next batch", async () => {
    const writes: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const commit = createGroupCommit<number>(async (rows) => {
      writes.push(rows);
      if (writes.length === 1) await gate;
    }, String);
    const first = commit.push(0);
    await new Promise((r) => setTimeout(r, 5));
    const rest = [1, 2, 3].map((i) => commit.push(i));
    release();
    await Promise.all([first, ...rest]);
    expect(writes).toStrictEqual([[0], [1, 2, 3]]);
  });

  it("splits at maxBatchRows and writes one row at a time with batch: false", async () => {
    const sizes: number[] = [];
    const capped = createGroupCommit<number>(async (rows) => void sizes.push(rows.length), String, { maxBatchRows: 4 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => capped.push(i)));
    expect(sizes).toStrictEqual([4, 4, 2]);

    const seen: number[][] = [];
    const single = createGroupCommit<number>(async (rows) => void seen.push(rows), String, { batch: false });
    await Promise.all([0, 1, 2].map((i) => single.push(i)));
    expect(seen).toStrictEqual([[0], [1], [2]]);
  });

  it("rejects every caller of a failed batch with a StorageError that keeps the cause, then carries on", async () => {
    const boom = new Error("connection reset");
    let fail = true;
    const commit = createGroupCommit<number>(
      async () => {
        if (fail) throw boom;
      },
      (cause) => `could not store: ${(cause as Error).message}`,
    );
    const results = await Promise.allSettled([1, 2, 3].map((i) => commit.push(i)));
    for (const result of results) {
      expect(result).toMatchObject({
        status: "rejected",
        reason: { name: "StorageError", code: "STORAGE_ERROR", cause: boom, message: "could not store: connection reset" },
      });
    }
    fail = false;
    await expect(commit.push(4)).resolves.toBeUndefined();
  });

  it("drain() waits for queued rows", async () => {
    const written: number[] = [];
    const commit = createGroupCommit<number>(async (rows) => void written.push(...rows), String);
    void commit.push(1);
    void commit.push(2);
    await commit.drain();
    expect(written).toStrictEqual([1, 2]);
    await commit.drain();
  });

  it("splits a refused batch until only the refused rows fail, writing the others in order", async () => {
    const written: number[] = [];
    const attempts: number[][] = [];
    const commit = createGroupCommit<number>(async (rows) => {
      attempts.push(rows);
      if (rows.includes(3) || rows.includes(7)) throw Object.assign(new Error("invalid byte sequence"), { code: "22021" });
      written.push(...rows);
    }, String);
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => commit.push(i)));
    expect(results.map((r) => r.status)).toStrictEqual(
      Array.from({ length: 10 }, (_, i) => (i === 3 || i === 7 ? "rejected" : "fulfilled")),
    );
    expect((results[3] as PromiseRejectedResult).reason).toMatchObject({ code: "STORAGE_ERROR", cause: { code: "22021" } });
    expect(written).toStrictEqual([0, 1, 2, 4, 5, 6, 8, 9]);
    expect(attempts.length).toBeLessThan(20);
  });

  it("fails a batch at once when the connection is lost, without retrying its rows", async () => {
    let writes = 0;
    const lost = Object.assign(new Error("Connection terminated"), { code: "CONNECTION_CLOSED" });
    const commit = createGroupCommit<number>(async () => {
      writes++;
      throw lost;
    }, String);
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => commit.push(i)));
    expect(results.every((r) => r.status === "rejected" && r.reason.cause === lost)).toBe(true);
    expect(writes).toBe(1);
  });

  it("passes each row's result from the writer to its caller", async () => {
    const commit = createGroupCommit<number, string>(async (rows) => rows.map((n) => `row ${n}`), String);
    expect(await Promise.all([1, 2].map((i) => commit.push(i)))).toStrictEqual(["row 1", "row 2"]);
  });
});
