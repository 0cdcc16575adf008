const encoder = new TextEncoder();
/** `ignoreBOM`: a frame comes back exactly as it was kept, a leading U+FEFF included. */
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

const MIN_ENTRIES = 16;
const MIN_BYTES = 256;

/**
 * A room stream's kept frames, oldest first, as UTF-8 in one byte buffer with their lengths and write
 * times in typed arrays beside it. Kept as strings, every frame outlived a few young-generation
 * collections and was copied into the old generation, to die there: with 256 kept per room, each
 * relayed message cost a promotion, the old generation grew by tens of MB under load and its
 * collections came more often (bench/README.md, issue 21). Here a frame is copied once into memory the
 * collector does not move, and the string dies young; `frameAt` decodes it again for a replay, which is
 * rare. A frame round-trips exactly: frames are well-formed UTF-16, and a lone surrogate would have
 * gone out as U+FFFD on the wire anyway.
 */
export class FrameRing {
  /** Kept frames: entries `head` … `head + count − 1`. */
  count = 0;
  private head = 0;
  /** Where the newest frame's bytes end in `data` (the oldest's start at `starts[head]`). */
  private end = 0;
  private data = new Uint8Array(0);
  private starts = new Int32Array(MIN_ENTRIES);
  private lengths = new Int32Array(MIN_ENTRIES);
  /** Each frame's length in UTF-16 code units (what the byte cap counts). */
  private units = new Int32Array(MIN_ENTRIES);
  private times = new Float64Array(MIN_ENTRIES);
  /**
   * Each frame's sender's `resumeKey`, beside the typed arrays at the same index; made at the first frame
   * sent under a key. The keys are the senders' own strings (one per connection), so keeping them
   * allocates nothing per frame.
   */
  private tags: (string | undefined)[] | undefined;

  push(frame: string, now: number, tag?: string): void {
    if (this.head + this.count === this.starts.length) this.entryRoom();
    // Room for one byte per code unit (the common case), else for the most UTF-8 can take: 3 per unit.
    if (this.end + frame.length > this.data.length) this.byteRoom(frame.length);
    let { read, written } = encoder.encodeInto(frame, this.data.subarray(this.end));
    if (read < frame.length) {
      this.byteRoom(frame.length * 3);
      ({ written } = encoder.encodeInto(frame, this.data.subarray(this.end)));
    }
    const i = this.head + this.count++;
    this.starts[i] = this.end;
    this.lengths[i] = written;
    this.units[i] = frame.length;
    this.times[i] = now;
    if (tag !== undefined || this.tags) {
      const tags = (this.tags ??= []);
      if (tags.length !== i) tags.length = i; // only at the first tag, or after the ring emptied: else already in step
      tags.push(tag);
    }
    this.end += written;
  }

  /** Drop the oldest frame; its length in UTF-16 code units. */
  shift(): number {
    const units = this.units[this.head]!;
    if (this.tags) this.tags[this.head] = undefined;
    this.head++;
    if (--this.count === 0) this.head = this.end = 0;
    return units;
  }

  /** The `k`-th kept frame (0: the oldest). */
  frameAt(k: number): string {
    const i = this.head + k;
    const start = this.starts[i]!;
    return decoder.decode(this.data.subarray(start, start + this.lengths[i]!));
  }

  unitsAt(k: number): number {
    return this.units[this.head + k]!;
  }

  timeAt(k: number): number {
    return this.times[this.head + k]!;
  }

  /** The `k`-th kept frame's sender's `resumeKey`, if it had one. */
  tagAt(k: number): string | undefined {
    return this.tags?.[this.head + k];
  }

  /** The entry arrays are full at the end: move the kept entries to the front, twice as much room when over half full. */
  private entryRoom(): void {
    const { head, count } = this;
    const size = count * 2 > this.starts.length ? this.starts.length * 2 : this.starts.length;
    const move = <A extends Int32Array | Float64Array>(from: A, fresh: (n: number) => A): A => {
      if (size === from.length) return from.copyWithin(0, head, head + count) as A;
      const to = fresh(size);
      to.set(from.subarray(head, head + count));
      return to;
    };
    this.starts = move(this.starts, (n) => new Int32Array(n));
    this.lengths = move(this.lengths, (n) => new Int32Array(n));
    this.units = move(this.units, (n) => new Int32Array(n));
    this.times = move(this.times, (n) => new Float64Array(n));
    if (this.tags) this.tags = this.tags.slice(head, head + count);
    this.head = 0;
  }

  /**
   * No room for `need` more bytes at the end: move the kept bytes to the front. The buffer stays between
   * 1.5 and 2.5 times what they and `need` take (else a new one of twice that, 256 bytes at least): at
   * most 2.5 times the bytes kept at the last move are held, at most two bytes moved per byte written.
   */
  private byteRoom(need: number): void {
    const from = this.count > 0 ? this.starts[this.head]! : this.end;
    const used = this.end - from;
    const wanted = used + need;
    const size = this.data.length;
    if (size >= 1.5 * wanted && (size <= 2.5 * wanted || size === MIN_BYTES)) this.data.copyWithin(0, from, this.end);
    else {
      const data = new Uint8Array(Math.max(MIN_BYTES, 2 * wanted));
      data.set(this.data.subarray(from, this.end));
      this.data = data;
    }
    for (let i = this.head; i < this.head + this.count; i++) this.starts[i] = this.starts[i]! - from;
    this.end = used;
  }
}
