/**
 * Classifier-free guidance (Ho & Salimans 2022) for a class-conditional velocity model:
 *
 *   v = v(x, t, ∅) + w·(v(x, t, c) − v(x, t, ∅))
 *
 * w = 1 is the conditional model, w = 0 the unconditional one, w > 1 pushes samples towards their
 * class. ∅ is the null class, which the model learns through label dropout in training (flow's
 * GPU `dropLabels`, or `dropLabelsHost` in src/data/mnist.ts). The two evaluations are one forward
 * pass of 2N rows: [x; x], [t; t], [c; ∅].
 */
import { affine, add, concat, scale, slice } from '../autograd/ops.js';
import { FlowGpuError } from '../gpu/errors.js';
import { keep, tensor, type Tensor } from '../tensor/tensor.js';

/**
 * A velocity model v(x, t, labels?) with optional i32 class labels [N], as classifier-free guidance
 * needs.
 */
export interface ConditionalVelocityModel {
  /** labels i32 [N], or continuous conditions f32 [N, W + 1] (GuidanceConditions). */
  forward(x: Tensor, t: Tensor, labels?: Tensor): Tensor;
}

/**
 * The class labels of a guided sampling run, uploaded once: `cond` [N], `none` [N] (all ∅) and
 * `pair` [2N] = [c; ∅]. ∅ is written as `nullLabel`, by default −1, which both image and toy
 * models read as the null class (UNet: any label outside 0…C−1 selects its ∅ row; VelocityMLP:
 * a zero one-hot row); pass the model's own index (UNet.nullClass) to be explicit.
 */
export class GuidanceLabels {
  readonly cond: Tensor;
  readonly none: Tensor;
  readonly pair: Tensor;
  constructor(labels: ArrayLike<number>, nullLabel = -1) {
    const n = labels.length;
    const pair = new Int32Array(2 * n).fill(nullLabel);
    for (let i = 0; i < n; i++) {
      if (!Number.isInteger(labels[i])) throw new FlowGpuError(`guidance: label ${i} is ${labels[i]}, not an integer`);
      pair[i] = labels[i];
    }
    this.cond = keep(tensor(pair.subarray(0, n), [n], 'i32'));
    this.none = keep(tensor(pair.subarray(n), [n], 'i32'));
    this.pair = keep(tensor(pair, [2 * n], 'i32'));
  }
  get count(): number {
    return this.cond.size;
  }
  dispose(): void {
    this.cond.dispose();
    this.none.dispose();
    this.pair.dispose();
  }
}

/**
 * Continuous conditions of a guided sampling run, uploaded once in the form the network reads
 * (flow's `flagConditions`): `cond` [N, W + 1] = the values and a 1, `none` = zeros (∅), `pair`
 * [2N, W + 1] = [c; ∅].
 */
export class GuidanceConditions {
  readonly cond: Tensor;
  readonly none: Tensor;
  readonly pair: Tensor;
  constructor(values: ArrayLike<number>, readonly width: number) {
    if (!(Number.isInteger(width) && width >= 1)) throw new FlowGpuError(`guidance: the condition width must be a positive integer, got ${width}`);
    if (values.length % width !== 0) throw new FlowGpuError(`guidance: ${values.length} condition values are not rows of ${width}`);
    const n = values.length / width;
    const w1 = width + 1;
    const pair = new Float32Array(2 * n * w1);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < width; j++) {
        const v = values[i * width + j];
        if (!Number.isFinite(v)) throw new FlowGpuError(`guidance: condition ${i}, column ${j} is ${v}; conditions must be finite`);
        pair[i * w1 + j] = v;
      }
      pair[i * w1 + width] = 1;
    }
    this.cond = keep(tensor(pair.subarray(0, n * w1), [n, w1]));
    this.none = keep(tensor(pair.subarray(n * w1), [n, w1]));
    this.pair = keep(tensor(pair, [2 * n, w1]));
  }
  get count(): number {
    return this.cond.shape[0];
  }
  dispose(): void {
    this.cond.dispose();
    this.none.dispose();
    this.pair.dispose();
  }
}

/** What `guidedVelocity` needs: the conditions of N rows, N nulls and both stacked ([c; ∅]). */
export type GuidanceInputs = Pick<GuidanceLabels, 'cond' | 'none' | 'pair' | 'count'>;

/**
 * The guided velocity at x [N, ...], t [N] for labels (or continuous conditions) `lab` with
 * guidance scale w. w = 1 and
 * w = 0 take one N-row pass; any other w one 2N-row pass, split and combined as
 * (1 − w)·v(∅) + w·v(c).
 */
export function guidedVelocity(model: ConditionalVelocityModel, x: Tensor, t: Tensor, lab: GuidanceInputs, w: number): Tensor {
  const n = x.shape[0];
  if (lab.count !== n) throw new FlowGpuError(`guidance: ${lab.count} labels for a batch of ${n}`);
  if (!Number.isFinite(w)) throw new FlowGpuError(`guidance scale must be finite, got ${w}`);
  if (w === 1) return model.forward(x, t, lab.cond);
  if (w === 0) return model.forward(x, t, lab.none);
  const v = model.forward(concat([x, x], 0), concat([t, t], 0), lab.pair);
  const vc = slice(v, [0], [n]);
  const vu = slice(v, [n], [2 * n]);
  return add(scale(vc, w), affine(vu, 1 - w));
}
