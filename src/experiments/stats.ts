/**
 * Statistics over seeds: what a row of numbers from n seeds says, and whether two arms trained on the same seeds
 * differ. With 3 to 10 seeds a normal interval is too narrow, so intervals use Student's t (two-sided 95%).
 */

/** Two-sided 95% quantiles of Student's t, t_{0.975, df}, for df = 1..30 (any statistics table; e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2). */
const T_975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
  2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086,
  2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** t_{0.975, df}; beyond df = 30 the normal 1.96 is within 2%. */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`tQuantile975: df must be a positive integer, got ${df}`);
  return df <= T_975.length ? T_975[df - 1] : 1.96;
}

export interface Summary {
  /** Finite values counted. */
  readonly n: number;
  /** Values that were null or not finite (e.g. a threshold never reached), left out of the statistics. */
  readonly missing: number;
  readonly mean: number | null;
  /** Sample standard deviation (n - 1), null below two values. */
  readonly std: number | null;
  /** 95% interval of the mean (Student's t), null below two values. */
  readonly ci95: readonly [number, number] | null;
  readonly min: number | null;
  readonly max: number | null;
}

/** Mean, spread and 95% interval of one number over seeds. */
export function summarize(values: readonly (number | null | undefined)[]): Summary {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  const n = xs.length;
  const missing = values.length - n;
  if (n === 0) return { n, missing, mean: null, std: null, ci95: null, min: null, max: null };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const min = Math.min(...xs);
  const max = Math.max(...xs);
  if (n < 2) return { n, missing, mean, std: null, ci95: null, min, max };
  const std = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const half = (tQuantile975(n - 1) * std) / Math.sqrt(n);
  return { n, missing, mean, std, ci95: [mean - half, mean + half], min, max };
}

/** "0.912 ± 0.021 (n=3)": mean ± standard deviation over seeds, the form the README's tables use. */
export function formatSummary(s: Summary, digits = 3): string {
  if (s.mean === null) return `n/a (n=0${s.missing ? `, ${s.missing} missing` : ''})`;
  const spread = s.std === null ? '' : ` ± ${s.std.toFixed(digits)}`;
  return `${s.mean.toFixed(digits)}${spread} (n=${s.n}${s.missing ? `, ${s.missing} missing` : ''})`;
}

export type Verdict = 'better' | 'worse' | `not distinguishable at ${number} seeds`;

export interface PairedComparison {
  /** Per seed, b - a, for the seeds both arms have. */
  readonly differences: readonly number[];
  readonly summary: Summary;
  /** Whether b is better than a: the 95% interval of the paired difference lies wholly on one side of zero. */
  readonly verdict: Verdict;
}

/**
 * Compare arm `b` with arm `a` seed by seed (values keyed by seed, so only shared seeds pair). Pairing removes
 * what the seed does to both arms (data order, initialisation, noise), so it separates smaller differences than
 * comparing the two means. `higherIsBetter` says which direction "better" is (accuracy: true, FID: false).
 */
export function pairedComparison(a: Readonly<Record<number, number>>, b: Readonly<Record<number, number>>, higherIsBetter: boolean): PairedComparison {
  const seeds = Object.keys(a).filter((s) => Object.hasOwn(b, s) && Number.isFinite(a[Number(s)]) && Number.isFinite(b[Number(s)]));
  const differences = seeds.map((s) => b[Number(s)] - a[Number(s)]);
  const summary = summarize(differences);
  return { differences, summary, verdict: verdictOf(summary, higherIsBetter) };
}

/** "better" or "worse" when the 95% interval excludes zero, else "not distinguishable at n seeds". */
export function verdictOf(difference: Summary, higherIsBetter: boolean): Verdict {
  const ci = difference.ci95;
  if (ci === null || (ci[0] <= 0 && ci[1] >= 0)) return `not distinguishable at ${difference.n} seeds`;
  const up = ci[0] > 0;
  return up === higherIsBetter ? 'better' : 'worse';
}
