/**
 * A latency histogram in microseconds: 32 logarithmic buckets per power of two (about 2%
 * resolution) from 1 us to 2^26 us (67 s). Cheap to record, cheap to merge across processes.
 */
export class Histogram {
  static readonly SUB = 32;
  static readonly OCTAVES = 26;
  readonly counts: number[];
  total = 0;
  max = 0;

  constructor(counts?: number[], total = 0, max = 0) {
    this.counts = counts ?? new Array<number>(Histogram.SUB * Histogram.OCTAVES).fill(0);
    this.total = total;
    this.max = max;
  }

  /** Records one latency. Negative values (clock noise) count as 0. */
  record(us: number): void {
    const v = us < 1 ? 1 : us;
    let i = Math.floor(Math.log2(v) * Histogram.SUB);
    if (i >= this.counts.length) i = this.counts.length - 1;
    this.counts[i]!++;
    this.total++;
    if (us > this.max) this.max = us;
  }

  /** Adds another histogram's counts to this one. */
  merge(other: HistogramData): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i] ?? 0;
    this.total += other.total;
    if (other.max > this.max) this.max = other.max;
  }

  /** The value at quantile `q` (0..1), in microseconds (bucket midpoint); NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, 2 ** ((i + 0.5) / Histogram.SUB));
    }
    return this.max;
  }

  /** Plain data, for IPC. */
  toJSON(): HistogramData {
    return { counts: this.counts, total: this.total, max: this.max };
  }

  static from(data: HistogramData): Histogram {
    return new Histogram([...data.counts], data.total, data.max);
  }
}

/** What {@link Histogram.toJSON} returns. */
export interface HistogramData {
  counts: number[];
  total: number;
  max: number;
}
