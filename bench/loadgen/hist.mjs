// Latency histogram: log buckets 1% wide from 1 µs up, mergeable across processes.
const GROWTH = Math.log(1.01);
const BUCKETS = 2400; // 1 µs * 1.01^2400 ≈ 23 000 s

export class Histogram {
  constructor(counts) {
    this.counts = counts ? Float64Array.from(counts) : new Float64Array(BUCKETS);
  }

  record(ms) {
    const us = ms * 1000;
    let i = us <= 1 ? 0 : Math.floor(Math.log(us) / GROWTH);
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.counts[i]++;
  }

  merge(other) {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    return this;
  }

  get total() {
    let n = 0;
    for (let i = 0; i < BUCKETS; i++) n += this.counts[i];
    return n;
  }

  // the q quantile in ms (bucket midpoint), NaN when empty
  quantile(q) {
    const total = this.total;
    if (!total) return NaN;
    const rank = q * total;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank && this.counts[i] > 0) return Math.exp((i + 0.5) * GROWTH) / 1000;
    }
    return NaN;
  }

  summary() {
    return { n: this.total, p50: this.quantile(0.5), p99: this.quantile(0.99), max: this.quantile(1) };
  }

  toJSON() {
    return Array.from(this.counts);
  }
}
