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
  /** The kept frames' bytes. */
  private used = 0;
  /** Where the room `place` found ends. */
  private limit = 0;
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

  /** How many frames the ring keeps at most (the stream's `size`): what a growing buffer is sized for. */
  private readonly frames: number;

  constructor(frames: number) {
    this.frames = frames;
  }

  push(frame: string, now: number, tag?: string): void {
    if (this.head + this.count === this.starts.length) this.entryRoom();
    // Room for one byte per code unit (the common case), else for the most UTF-8 can take: 3 per unit.
    let at = this.place(frame.length);
    let { read, written } = encoder.encodeInto(frame, this.data.subarray(at, this.limit));
    if (read < frame.length) {
      at = this.place(frame.length * 3);
      ({ written } = encoder.encodeInto(frame, this.data.subarray(at, this.limit)));
    }
    const i = this.head + this.count++;
    this.starts[i] = at;
    this.lengths[i] = written;
    this.units[i] = frame.length;
    this.times[i] = now;
    if (tag !== undefined || this.tags) {
      const tags = (this.tags ??= []);
      if (tags.length !== i) tags.length = i; // only at the first tag, or after the ring emptied: else already in step
      tags.push(tag);
    }
    this.end = at + written;
    this.used += written;
  }

  /** Drop the oldest frame; its length in UTF-16 code units. */
  shift(): number {
    const units = this.units[this.head]!;
    this.used -= this.lengths[this.head]!;
    if (this.tags) this.tags[this.head] = undefined;
    this.head++;
    if (--this.count === 0) this.head = this.end = 0;
    return units;
  }

  /** Bytes of the buffer the frames are kept in (for tests). */
  get capacity(): number {
    return this.data.length;
  }

  /** Bytes the kept frames take in it. */
  get keptBytes(): number {
    return this.used;
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
   * Where `need` bytes go: `data` is used as a circle, a frame never split across its end. After the
   * newest frame while they fit, then (once the oldest frames are gone from the front) from the front
   * up to the oldest; sets `limit` where that room ends. Without room, the kept frames move to the front
   * of a new buffer (256 bytes at least); at the turn to the front, a buffer over 1.6 times what they
   * and `need` take is replaced by one of 1.25 times. Moving the kept bytes to the front of the
   * same buffer instead, kept at 1.5–2.5 times their size, held 87 KB per room for 44 KB of frames in
   * rooms-1000x100 (bench/README.md, "ws's fragments array"); a full ring now holds about 1.25 times
   * its frames, and moves bytes only when it replaces its buffer.
   */
  private place(need: number): number {
    const size = this.data.length;
    const wanted = this.used + need;
    if (this.count === 0) {
      if (need <= size) return this.room(0, size);
    } else {
      const oldest = this.starts[this.head]!;
      // Wrapped (the newest frames are at the front): the free room lies between the newest and the oldest.
      if (this.end <= oldest) {
        if (this.end + need <= oldest) return this.room(this.end, oldest);
      } else if (this.end + need <= size) return this.room(this.end, size);
      else if (need <= oldest && size <= 1.6 * wanted) return this.room(0, oldest);
    }
    if (size >= wanted) return this.replace(Math.max(MIN_BYTES, Math.ceil(1.25 * wanted)));
    // Growing: twice the need, but no more than `frames` frames of the average size so far take with the
    // slack, so a filling ring does not overshoot and then replace its buffer once more to shrink it.
    const full = Math.ceil((1.25 * wanted * Math.max(this.frames, this.count + 1)) / (this.count + 1));
    return this.replace(Math.max(MIN_BYTES, Math.ceil(1.25 * wanted), Math.min(2 * wanted, full)));
  }

  /** Room from `at` up to `limit`: `at`. */
  private room(at: number, limit: number): number {
    this.limit = limit;
    return at;
  }

  /** A new `data` of `size` bytes with the kept frames at its front; where the next frame goes. */
  private replace(size: number): number {
    const data = new Uint8Array(size);
    let at = 0;
    for (let i = this.head; i < this.head + this.count; i++) {
      const start = this.starts[i]!;
      const length = this.lengths[i]!;
      data.set(this.data.subarray(start, start + length), at);
      this.starts[i] = at;
      at += length;
    }
    this.data = data;
    this.end = at;
    this.limit = size;
    return at;
  }
}
