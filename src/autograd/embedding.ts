/** The sinusoidal time embedding as a differentiable op in t (src/tensor/embedding.ts; the math: src/nn/embedding.ts). */
import { sinusoidalEmbeddingBackwardRaw, sinusoidalEmbeddingRaw } from '../tensor/embedding.js';
import type { Tensor } from '../tensor/tensor.js';
import { record } from './tape.js';

/**
 * [cos(2π·t·f_i) …, sin(2π·t·f_i) …] (a zero column appended when dim is odd) for t [N] or [N, 1]
 * and constant frequencies f [⌊dim/2⌋] in turns per unit of t → [N, dim].
 */
export function sinusoidalEmbedding(t: Tensor, freq: Tensor, dim: number): Tensor {
  return record(sinusoidalEmbeddingRaw(t, freq, dim), 'sinusoidal_embedding', [t], (g) => [sinusoidalEmbeddingBackwardRaw(t, freq, g)]);
}
