// The load client's latency histogram, shared with the parent that merges several load processes'
// histograms (bench/load-spread.mjs): counts travel as sparse [bucket, count] pairs.

/** Latency histogram: 10 µs buckets up to 100 ms, then 1 ms buckets up to 60 s. */
export class Histogram {
  fine = new Float64Array(10_000);
  coarse = new Float64Array(60_000);
  count = 0;
  max = 0;
  record(ms) {
    if (Number.isNaN(ms)) return; // no "t" in the frame
    if (ms < 0) ms = 0; // sender and receivers share one clock (across processes: the wall clock), be safe anyway
    this.count++;
    if (ms > this.max) this.max = ms;
    if (ms < 100) this.fine[(ms * 100) | 0]++;
    else this.coarse[Math.min(59_999, ms | 0)]++;
  }
  percentile(p) {
    if (this.count === 0) return null;
    const target = Math.ceil(this.count * p);
    let seen = 0;
    for (let i = 0; i < this.fine.length; i++) if ((seen += this.fine[i]) >= target) return (i + 0.5) / 100;
    for (let i = 100; i < this.coarse.length; i++) if ((seen += this.coarse[i]) >= target) return i + 0.5;
    return this.max;
  }
  summary() {
    return { samples: this.count, p50: this.percentile(0.5), p99: this.percentile(0.99), max: this.max };
  }
  /** The non-empty buckets, for another process to `merge`. */
  export() {
    const sparse = (a) => {
      const out = [];
      for (let i = 0; i < a.length; i++) if (a[i] > 0) out.push(i, a[i]);
      return out;
    };
    return { fine: sparse(this.fine), coarse: sparse(this.coarse), count: this.count, max: this.max };
  }
  merge(h) {
    for (let i = 0; i < h.fine.length; i += 2) this.fine[h.fine[i]] += h.fine[i + 1];
    for (let i = 0; i < h.coarse.length; i += 2) this.coarse[h.coarse[i]] += h.coarse[i + 1];
    this.count += h.count;
    if (h.max > this.max) this.max = h.max;
    return this;
  }
}

/** Latency overall and, with several targets, per target: a delivery through a backplane hop shows apart. */
export class Latency {
  constructor(targets) {
    this.all = new Histogram();
    this.targets = targets > 1 ? Array.from({ length: targets }, () => new Histogram()) : [];
  }
  record(ms, target) {
    this.all.record(ms);
    this.targets[target]?.record(ms);
  }
  summary() {
    return this.all.summary();
  }
  byTarget() {
    return this.targets.map((h) => h.summary());
  }
  export() {
    return { all: this.all.export(), targets: this.targets.map((h) => h.export()) };
  }
  merge(l) {
    this.all.merge(l.all);
    for (const [i, h] of l.targets.entries()) this.targets[i]?.merge(h);
    return this;
  }
}
