/**
 * Modules with named parameters, PyTorch style: a module's parameters are its own (in registration
 * order) followed by its children's, named `child.param` (`net.0.weight`, `net.0.bias`, …), so a
 * checkpoint's names and layouts are the ones `torch.nn` uses and `load_state_dict` accepts.
 *
 * `flatten()` moves all parameters into one GPU buffer (and their gradients into another), each
 * starting at a 64-float boundary (WebGPU's 256-byte binding alignment), and replaces the tensors
 * with views into it. Optimisers then update everything in one dispatch (llm.c's layout).
 * `bindFlat()` instead makes a module's parameters views into an existing buffer of the same layout
 * (a second copy of the weights, e.g. the EMA average, run through the same architecture).
 * `loadStateDict()` / `stateDict()` move weights by PyTorch name, in place, so views stay views.
 */
import { FlowGpuError } from '../gpu/errors.js';
import { param } from '../autograd/tape.js';
import { fill } from '../tensor/primitives.js';
import { empty, gpu, keep, tensor, viewInto, type Tensor } from '../tensor/tensor.js';

export const PARAM_ALIGN = 64;

/**
 * A module's parameters and gradients in two flat GPU buffers, with each parameter's offset by name
 * (from `flatten()`).
 */
export interface FlatParameters {
  /** All parameters, one buffer. */
  params: Tensor;
  /** All gradients, same layout. */
  grads: Tensor;
  /** Name → element offset into the flat buffers. */
  offsets: Map<string, number>;
  /** Total elements including alignment padding. */
  size: number;
}

/**
 * Base of the layers and networks: named parameters and children in PyTorch order, state dicts,
 * `flatten()` into one buffer and train/eval mode.
 */
export abstract class Module {
  private readonly ownParams = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();
  private flat: FlatParameters | null = null;
  /** True on the module whose flatten()/bindFlat() created `flat` (children only share it). */
  private ownsFlat = false;
  training = true;

  protected registerParameter(name: string, t: Tensor): Tensor {
    if (this.flat) throw new FlowGpuError('cannot add parameters after flatten()');
    param(keep(t), name);
    this.ownParams.set(name, t);
    return t;
  }

  /** The current tensor of one of this module's own parameters (it changes on flatten/load). */
  protected getParameter(name: string): Tensor {
    const t = this.ownParams.get(name);
    if (!t) throw new FlowGpuError(`no parameter '${name}'`);
    return t;
  }

  hasParameter(name: string): boolean {
    return this.ownParams.has(name);
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Parameters with their PyTorch names, in state-dict order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.ownParams) out.push([prefix + n, t]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  parameterCount(): number {
    return this.parameters().reduce((s, t) => s + t.size, 0);
  }

  /** Replaces a parameter tensor by name (used by flatten and checkpoint loading). */
  setParameter(name: string, t: Tensor): void {
    const dot = name.indexOf('.');
    if (dot >= 0 && !this.ownParams.has(name)) {
      const child = this.children.get(name.slice(0, dot));
      if (!child) throw new FlowGpuError(`no submodule '${name.slice(0, dot)}' for parameter '${name}'`);
      child.setParameter(name.slice(dot + 1), t);
      return;
    }
    const old = this.ownParams.get(name);
    if (!old) throw new FlowGpuError(`no parameter '${name}'`);
    if (old.shape.join() !== t.shape.join()) {
      throw new FlowGpuError(`parameter '${name}' has shape [${old.shape.join(', ')}], got [${t.shape.join(', ')}]`);
    }
    param(keep(t), old.name);
    this.ownParams.set(name, t);
    old.dispose();
  }

  /**
   * The flat layout of this module's parameters: each starts at a PARAM_ALIGN boundary, in
   * state-dict order. Two modules built from the same config have the same layout.
   */
  flatLayout(): { offsets: Map<string, number>; size: number } {
    const offsets = new Map<string, number>();
    let size = 0;
    for (const [n, t] of this.namedParameters()) {
      offsets.set(n, size);
      size += Math.ceil(t.size / PARAM_ALIGN) * PARAM_ALIGN;
    }
    return { offsets, size };
  }

  /** Moves every parameter into one flat buffer (and gradients into another); idempotent. */
  flatten(): FlatParameters {
    if (this.flat) return this.flat;
    const { offsets, size } = this.flatLayout();
    const params = keep(empty([size]));
    fill(params, 0);
    const g = gpu();
    for (const [n, t] of this.namedParameters()) {
      g.copy(t.pooled, t.offset * 4, params.pooled, offsets.get(n)! * 4, t.size * 4);
    }
    return this.adopt(params, offsets, size);
  }

  /**
   * Makes this module's parameters views into an existing flat buffer laid out as `flatLayout()`
   * (no copy: the module computes with whatever that buffer holds). This is how a second module of
   * the same architecture runs on another copy of the weights, e.g. the EMA weights for sampling.
   * The module keeps its own view of `params` (disposing the module leaves the buffer alive) and
   * gets a zeroed gradient buffer of its own.
   */
  bindFlat(params: Tensor): FlatParameters {
    if (this.flat) throw new FlowGpuError('bindFlat(): this module is already flattened');
    const { offsets, size } = this.flatLayout();
    if (params.rank !== 1 || params.size !== size || params.dtype !== 'f32') {
      throw new FlowGpuError(`bindFlat(): expected an f32 buffer [${size}] for this module's layout, got ${params.dtype}[${params.shape.join(', ')}]`);
    }
    return this.adopt(keep(viewInto(params, 0, [size])), offsets, size);
  }

  private adopt(params: Tensor, offsets: Map<string, number>, size: number): FlatParameters {
    const grads = keep(empty([size]));
    fill(grads, 0);
    for (const [n, t] of this.namedParameters()) {
      const off = offsets.get(n)!;
      const v = viewInto(params, off, t.shape);
      v.grad = keep(viewInto(grads, off, t.shape));
      this.setParameter(n, v);
    }
    const flat = { params, grads, offsets, size };
    this.ownsFlat = true;
    const share = (m: Module) => {
      m.flat = flat;
      for (const c of m.children.values()) share(c);
    };
    share(this);
    return flat;
  }

  get flatParameters(): FlatParameters | null {
    return this.flat;
  }

  /** Zeros every gradient (one fill when flattened). */
  zeroGrad(): void {
    if (this.flat && this.ownsFlat) {
      fill(this.flat.grads, 0);
      return;
    }
    for (const t of this.parameters()) if (t.grad) fill(t.grad, 0);
  }

  train(on = true): this {
    this.training = on;
    for (const m of this.children.values()) m.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Releases all parameter storage. */
  dispose(): void {
    for (const t of this.parameters()) {
      t.grad?.dispose();
      t.dispose();
    }
    if (this.flat && this.ownsFlat) {
      this.flat.params.dispose();
      this.flat.grads.dispose();
    }
  }

  /**
   * Copies host values into the parameters by PyTorch name (shapes as in `namedParameters()`),
   * in place: views into the flat buffer stay views, so an optimiser built on it keeps working.
   * With `strict` (default) every parameter must be given and no unknown name may appear.
   */
  loadStateDict(state: Record<string, ArrayLike<number>> | Map<string, ArrayLike<number>>, strict = true): void {
    const entries = state instanceof Map ? state : new Map(Object.entries(state));
    const named = new Map(this.namedParameters());
    if (strict) {
      const missing = [...named.keys()].filter((n) => !entries.has(n));
      const unknown = [...entries.keys()].filter((n) => !named.has(n));
      if (missing.length || unknown.length) {
        throw new FlowGpuError(
          `loadStateDict: ${missing.length ? `missing ${missing.join(', ')}` : ''}${missing.length && unknown.length ? '; ' : ''}` +
            `${unknown.length ? `unexpected ${unknown.join(', ')}` : ''}`,
        );
      }
    }
    const g = gpu();
    for (const [n, v] of entries) {
      const t = named.get(n);
      if (!t) continue;
      if (v.length !== t.size) throw new FlowGpuError(`loadStateDict: '${n}' has ${t.size} elements [${t.shape.join(', ')}], got ${v.length}`);
      g.upload(t.pooled, t.offset * 4, v instanceof Float32Array ? v : Float32Array.from(v));
    }
  }

  /** Reads every parameter back to the host, by PyTorch name, in state-dict order. */
  async stateDict(): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    const named = this.namedParameters();
    if (this.flat && this.ownsFlat) {
      // one read-back for everything
      const all = await this.flat.params.f32();
      for (const [n, t] of named) {
        const at = this.flat.offsets.get(n)!;
        out.set(n, { shape: [...t.shape], data: all.slice(at, at + t.size) });
      }
      return out;
    }
    for (const [n, t] of named) out.set(n, { shape: [...t.shape], data: await t.f32() });
    return out;
  }
}

/** Deterministic generator for initialisation (mulberry32 → uniform, Box–Muller → normal). */
export class HostRng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed >>> 0) ^ 0x9e3779b9;
  }
  uniform(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

/** A tensor of U(−bound, bound) values. */
export function uniformTensor(shape: number[], bound: number, rng: HostRng): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (2 * rng.uniform() - 1) * bound;
  return tensor(v, shape);
}
