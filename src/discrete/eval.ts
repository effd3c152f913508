/**
 * Sample quality of 2-D token data (K × K cells): the histogram of samples, the fraction of samples
 * on the support of the data pmf, the total-variation distance to it, and the pmf's entropy (the
 * floor of −ELBO per sequence).
 */
import { FlowGpuError } from '../gpu/errors.js';

/** Counts of samples i32 [n, 2] over the K×K cells, [a·K + b]. */
export function tokenHistogram(samples: ArrayLike<number>, k: number): Float64Array {
  if (samples.length % 2 !== 0) throw new FlowGpuError(`token histogram: ${samples.length} values are not pairs`);
  const h = new Float64Array(k * k);
  for (let i = 0; i < samples.length; i += 2) {
    const a = samples[i];
    const b = samples[i + 1];
    if (!(a >= 0 && a < k && b >= 0 && b < k)) throw new FlowGpuError(`token histogram: sample ${i / 2} is (${a}, ${b}), outside [0, ${k})²`);
    h[a * k + b]++;
  }
  return h;
}

/** The pmf of a K×K histogram (counts / total). */
export function histogramPmf(counts: ArrayLike<number>): Float64Array {
  let n = 0;
  for (let i = 0; i < counts.length; i++) n += counts[i];
  return Float64Array.from(counts, (c) => c / n);
}

/** The fraction of samples on the support of `pmf` and the total-variation distance ½Σ|p̂ − pmf|. */
export function supportAndTV(samples: ArrayLike<number>, pmf: ArrayLike<number>, k: number): { support: number; tv: number } {
  if (pmf.length !== k * k) throw new FlowGpuError(`support and TV: the pmf has ${pmf.length} cells, not ${k}×${k}`);
  const h = tokenHistogram(samples, k);
  const n = samples.length / 2;
  let on = 0;
  let tv = 0;
  for (let i = 0; i < h.length; i++) {
    if (pmf[i] > 0) on += h[i];
    tv += Math.abs(h[i] / n - pmf[i]);
  }
  return { support: on / n, tv: tv / 2 };
}

/** The entropy −Σ p·ln p of a pmf, in nats. */
export function entropy(pmf: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < pmf.length; i++) if (pmf[i] > 0) h -= pmf[i] * Math.log(pmf[i]);
  return h;
}
