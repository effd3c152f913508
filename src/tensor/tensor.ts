/**
 * Tensors: shaped, contiguous views of pooled GPU buffers (f32, or i32 for labels and indices).
 * Data stays on the GPU; `await t.data()` is the only way back to the host.
 *
 * Lifetime: JavaScript has no destructors, so tensors are released explicitly. Every tensor created
 * inside `tidy(fn)` is released when `fn` returns, except the tensors in its result and those passed
 * to `keep()`. A released tensor's storage goes back to the buffer pool once no view of it remains
 * (reshape shares storage). Parameters and optimiser state are created outside any scope and live
 * until disposed.
 */
import { FlowGpuError } from '../gpu/errors.js';
import type { BufferArg, DispatchSpec, Gpu, PooledBuffer } from '../gpu/runtime.js';
import type { KernelFamily } from '../gpu/kernel.js';

/** A tensor's element type: 'f32', or 'i32' for labels and indices. */
export type DType = 'f32' | 'i32';
/** A tensor's dimensions, outermost first ([] for a scalar). */
export type Shape = readonly number[];

let runtime: Gpu | null = null;

export function setRuntime(gpu: Gpu | null): void {
  runtime = gpu;
}

export function gpu(): Gpu {
  if (!runtime) throw new FlowGpuError('no GPU runtime: call `await initGpu()` before creating tensors');
  return runtime;
}

export function hasRuntime(): boolean {
  return runtime !== null;
}

class Storage {
  refs = 1;
  constructor(
    readonly buffer: PooledBuffer,
    readonly owner: Gpu,
  ) {}
  unref(): void {
    if (--this.refs === 0) this.owner.release(this.buffer);
  }
}

/** Set by the autograd layer: how a tensor was computed, for backward. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  backward(grad: Tensor): (Tensor | null)[];
}

const scopes: Set<Tensor>[] = [];
let poison: number | null = null;

/** Tests: fill every newly created op output with `value` (e.g. NaN) so unwritten elements show. */
export function poisonOutputs(value: number | null): void {
  poison = value;
}
export function poisonValue(): number | null {
  return poison;
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: Shape, where = 'shape'): number[] {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new FlowGpuError(`${where} [${shape.join(', ')}] has an invalid dimension ${d}`);
  }
  return [...shape];
}

/**
 * A shaped, contiguous f32 or i32 view of a pooled GPU buffer, with autograd fields
 * (`requiresGrad`, `grad`); read it back with `await t.data()`.
 */
export class Tensor {
  readonly shape: number[];
  readonly size: number;
  readonly dtype: DType;
  /** Element offset into the storage (non-zero for views into flat parameter buffers). */
  readonly offset: number;
  private storage: Storage | null;
  requiresGrad = false;
  grad: Tensor | null = null;
  node: GradNode | null = null;
  name?: string;

  /** @internal use the creation functions (zeros, tensor, …) or ops. */
  constructor(shape: Shape, dtype: DType, storage: Storage, offset = 0) {
    this.shape = checkShape(shape);
    this.size = sizeOf(shape);
    this.dtype = dtype;
    this.storage = storage;
    this.offset = offset;
    const top = scopes[scopes.length - 1];
    if (top) top.add(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  /** @internal */
  get pooled(): PooledBuffer {
    if (!this.storage) throw new FlowGpuError(`tensor [${this.shape.join(', ')}]${this.name ? ` '${this.name}'` : ''} was used after dispose`);
    return this.storage.buffer;
  }

  /** @internal the binding argument for a dispatch. */
  arg(): BufferArg {
    return { buffer: this.pooled, offset: this.offset * 4, size: Math.max(this.size, 1) * 4, elem: this.dtype };
  }

  /** A new tensor of another shape sharing this one's storage (same number of elements). */
  view(shape: Shape): Tensor {
    const s = checkShape(shape);
    if (sizeOf(s) !== this.size) {
      throw new FlowGpuError(`cannot view [${this.shape.join(', ')}] (${this.size} elements) as [${s.join(', ')}]`);
    }
    this.storage!.refs++;
    return new Tensor(s, this.dtype, this.storage!, this.offset);
  }

  /** Releases this tensor's hold on its storage. Using it afterwards is an error. */
  dispose(): void {
    if (!this.storage) return;
    this.storage.unref();
    this.storage = null;
    this.node = null;
    for (const s of scopes) s.delete(this);
  }

  /** Reads the values back to the host (waits for pending GPU work). */
  async data(): Promise<Float32Array | Int32Array> {
    const buf = await gpu().read(this.pooled, this.offset * 4, this.size * 4);
    return this.dtype === 'f32' ? new Float32Array(buf) : new Int32Array(buf);
  }

  async f32(): Promise<Float32Array> {
    if (this.dtype !== 'f32') throw new FlowGpuError(`tensor is ${this.dtype}, not f32`);
    return (await this.data()) as Float32Array;
  }

  async item(): Promise<number> {
    if (this.size !== 1) throw new FlowGpuError(`item() needs a single-element tensor, got [${this.shape.join(', ')}]`);
    return (await this.data())[0];
  }

  toString(): string {
    return `Tensor(${this.dtype}[${this.shape.join(', ')}]${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

// ------------------------------------------------------------------ scopes

/**
 * Runs `fn` and releases every tensor it created, except those in its result (a tensor, or arrays
 * and plain objects of tensors) and those passed to `keep()`. `fn` must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result && typeof (result as { then?: unknown }).then === 'function') {
      throw new FlowGpuError('tidy() takes a synchronous function; read tensors back after it returns');
    }
  } catch (e) {
    // An error inside the scope still releases what the scope created.
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  const survivors = new Set<Tensor>();
  collectTensors(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (survivors.has(t)) {
      if (parent) parent.add(t);
    } else t.dispose();
  }
  return result;
}

function collectTensors(x: unknown, into: Set<Tensor>): void {
  if (x instanceof Tensor) into.add(x);
  else if (Array.isArray(x)) for (const v of x) collectTensors(v, into);
  else if (x && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) {
    for (const v of Object.values(x)) collectTensors(v, into);
  }
}

/** Removes tensors from every enclosing scope: they live until disposed. */
export function keep<T extends Tensor | Tensor[]>(t: T): T {
  const list = Array.isArray(t) ? t : [t];
  for (const x of list) for (const s of scopes) s.delete(x);
  return t;
}

// ------------------------------------------------------------------ creation

/** An uninitialised tensor (poisoned in tests): kernels write every element of their outputs. */
export function empty(shape: Shape, dtype: DType = 'f32'): Tensor {
  const s = checkShape(shape);
  const g = gpu();
  const t = new Tensor(s, dtype, new Storage(g.alloc(Math.max(sizeOf(s), 1) * 4), g));
  if (poison !== null && dtype === 'f32' && t.size > 0) fillRaw(t, poison);
  return t;
}

/** A view of `size` elements at `offset` (elements) into another tensor's storage. */
export function viewInto(base: Tensor, offset: number, shape: Shape): Tensor {
  const s = checkShape(shape);
  if (offset + sizeOf(s) > base.size) throw new FlowGpuError(`view [${s.join(', ')}] at ${offset} overflows its base of ${base.size}`);
  const storage = (base as unknown as { storage: Storage }).storage;
  storage.refs++;
  return new Tensor(s, base.dtype, storage, base.offset + offset);
}

/** A new tensor uploaded from host values, of `shape` (default [data.length]) and `dtype` (default f32). */
export function tensor(data: ArrayLike<number>, shape?: Shape, dtype: DType = 'f32'): Tensor {
  const s = checkShape(shape ?? [data.length]);
  if (sizeOf(s) !== data.length) {
    throw new FlowGpuError(`tensor(): ${data.length} values do not fill shape [${s.join(', ')}] (${sizeOf(s)} elements)`);
  }
  const g = gpu();
  const t = new Tensor(s, dtype, new Storage(g.alloc(Math.max(data.length, 1) * 4), g));
  if (data.length) {
    const arr = dtype === 'f32' ? Float32Array.from(data) : Int32Array.from(data);
    g.upload(t.pooled, t.offset * 4, arr);
  }
  return t;
}

/** A rank-0 f32 tensor holding `value`. */
export function scalar(value: number): Tensor {
  return tensor([value], []);
}

/** A new f32 tensor of `shape` filled with `value`. */
export function full(shape: Shape, value: number): Tensor {
  const t = empty(shape);
  if (t.size) fillRaw(t, value);
  return t;
}

/** A new f32 tensor of `shape` filled with 0. */
export function zeros(shape: Shape): Tensor {
  return full(shape, 0);
}

/** A new f32 tensor of `shape` filled with 1. */
export function ones(shape: Shape): Tensor {
  return full(shape, 1);
}

// ------------------------------------------------------------------ dispatch glue

export interface RunSpec extends Omit<DispatchSpec, 'buffers' | 'label'> {
  inputs: Record<string, Tensor>;
  outputs: Record<string, Tensor>;
  label?: string;
}

/** Dispatches a kernel on tensors; the label names the op and the shapes for error messages. */
export function run(fam: KernelFamily, entry: string, spec: RunSpec): void {
  const buffers: Record<string, BufferArg> = {};
  const parts: string[] = [];
  for (const [k, t] of Object.entries(spec.inputs)) {
    buffers[k] = t.arg();
    parts.push(`${k}[${t.shape.join(',')}]`);
  }
  for (const [k, t] of Object.entries(spec.outputs)) {
    buffers[k] = t.arg();
    parts.push(`→${k}[${t.shape.join(',')}]`);
  }
  gpu().dispatch(fam, entry, {
    buffers,
    params: spec.params,
    overrides: spec.overrides,
    workgroups: spec.workgroups,
    label: `${spec.label ?? entry} ${parts.join(' ')}`,
  });
}

// fill is needed here for poisoning; its kernel lives with the elementwise family.
let fillImpl: ((t: Tensor, v: number) => void) | null = null;
export function registerFill(f: (t: Tensor, v: number) => void): void {
  fillImpl = f;
}
function fillRaw(t: Tensor, v: number): void {
  if (!fillImpl) throw new FlowGpuError('internal: fill kernel not registered');
  fillImpl(t, v);
}
