/**
 * The narrow GPU interface the rest of flowgpu talks to (nothing above src/gpu touches GPUDevice):
 * allocate / release pooled buffers, upload, dispatch a reflected kernel, copy, read back, flush.
 *
 * A step's work is recorded into one command encoder (one compute pass, split only around copies)
 * and submitted once, at `flush()` or when a read-back needs it. Per-dispatch uniforms are packed
 * into a CPU-side arena and uploaded with a single `writeBuffer` just before the submit; each
 * dispatch binds its 256-byte slice of the arena, so no buffer is created per dispatch. Released
 * buffers go back to a free list keyed by size class, so a steady-state training step allocates no
 * GPUBuffer at all. Queue order makes reuse safe: a buffer released after its last recorded use can
 * be handed out again in the same encoder, because the GPU runs the commands in order. For the same
 * reason uploads into a buffer while commands are pending go through a staging copy recorded in the
 * encoder (a bare `writeBuffer` would land before the pending commands run).
 *
 * WebGPU reports validation and out-of-memory errors asynchronously; each submit runs inside error
 * scopes, and the first error is rethrown at the next sync point (read, sync, flush) with the labels
 * of the dispatches in that submit. With `debug: true` every dispatch is its own submit, so the
 * error names the exact kernel and shapes.
 */
import { acquireDevice, type AcquireOptions, type AdapterDescription } from './device.js';
import { FlowGpuError } from './errors.js';
import { KernelFamily, packUniforms, workgroupSize, type KernelSource, type Scalar } from './kernel.js';
import type { WebGpuBuffer, WebGpuDevice } from './webgpu-types.js';

export interface PooledBuffer {
  readonly gpu: WebGpuBuffer;
  /** Capacity in bytes (the size class). */
  readonly bytes: number;
  readonly id: number;
}

/** What a kernel binding receives: a byte range of a pooled buffer and the element type it holds. */
export interface BufferArg {
  buffer: PooledBuffer;
  offset: number;
  size: number;
  elem: Scalar;
}

export interface DispatchSpec {
  /** Storage bindings by their WGSL variable name. */
  buffers: Record<string, BufferArg>;
  /** Uniform struct members by name. */
  params?: Record<string, number | readonly number[]>;
  /** Pipeline-overridable constants (compile-time specialisation). */
  overrides?: Record<string, number>;
  workgroups: readonly [number, number?, number?];
  /** Shown in error messages: the op and shapes. */
  label?: string;
}

/**
 * Counters of a `Gpu` (its `stats`): buffers created, destroyed, live and in use, live bytes,
 * dispatches, submits, read-backs and pipelines.
 */
export interface GpuStats {
  buffersCreated: number;
  buffersDestroyed: number;
  buffersLive: number;
  buffersInUse: number;
  bytesLive: number;
  dispatches: number;
  submits: number;
  readbacks: number;
  pipelines: number;
}

/** One row of a profile: the GPU time of every dispatch with the same kernel, label and grid. */
export interface ProfileRow {
  /** `family.entry`, the dispatch's label and its workgroup grid. */
  kernel: string;
  label: string;
  grid: string;
  count: number;
  /** Total GPU milliseconds (timestamps around each dispatch). */
  ms: number;
}

/**
 * A profile as text, one line per row, the `top` largest: GPU milliseconds per repetition, share of
 * the total, dispatches per repetition, kernel, label and grid.
 */
export function formatProfile(rows: readonly ProfileRow[], reps: number, top = 15): string[] {
  const total = rows.reduce((a, r) => a + r.ms, 0);
  const lines = rows.slice(0, top).map((r) => {
    const ms = (r.ms / reps).toFixed(2).padStart(9);
    const share = ((100 * r.ms) / total).toFixed(1).padStart(5);
    return `${ms} ms ${share}%  ×${r.count / reps}  ${r.kernel}  ${r.label}  [${r.grid}]`;
  });
  if (rows.length > top) lines.push(`  … ${rows.length - top} more kernels`);
  return lines;
}

/** Timestamp queries per profiled submit (two per dispatch); a fuller submit is split. */
const PROFILE_QUERIES = 4096;

/**
 * Options of `initGpu()` / `Gpu.create`: power preference, Dawn flags, wanted features and a debug
 * mode that submits after every dispatch.
 */
export interface GpuOptions extends AcquireOptions {
  /** Submit after every dispatch so errors name the exact kernel (slow). */
  debug?: boolean;
}

const UNIFORM_SLOT = 256;
const ARENA_SLOTS = 4096;

function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  // Powers of two up to 1 MiB, then multiples of 1 MiB.
  if (bytes <= 1 << 20) return 1 << Math.ceil(Math.log2(bytes));
  return Math.ceil(bytes / (1 << 20)) * (1 << 20);
}

/** What `Gpu.traits` reports: the adapter facts kernel choices depend on. */
export interface AdapterTraits {
  /** A CPU implementation (software rasteriser or fallback adapter): barriers and workgroup memory are costly. */
  cpu: boolean;
  /** Subgroups of exactly 8 lanes (the sg8 matmul's requirement). */
  subgroup8: boolean;
}

/**
 * The WebGPU runtime tensors live on: a device with a buffer pool, kernel pipelines, batched
 * dispatch, read-back and profiling; made by `initGpu()`.
 */
export class Gpu {
  readonly device: WebGpuDevice;
  readonly info: AdapterDescription;
  readonly debug: boolean;
  private readonly keepAlive: unknown;
  private readonly families = new Map<string, KernelFamily>();
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  private readonly free = new Map<number, PooledBuffer[]>();
  private readonly readBuffers = new Map<number, GPUBuffer[]>();
  private nextId = 1;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pendingLabels: string[] = [];
  private pendingRelease: PooledBuffer[] = [];
  private pendingStaging: PooledBuffer[] = [];
  private readonly stagingFree = new Map<number, PooledBuffer[]>();
  private readonly arena: GPUBuffer;
  private readonly arenaCpu = new ArrayBuffer(UNIFORM_SLOT * ARENA_SLOTS);
  private readonly arenaView = new DataView(this.arenaCpu);
  private arenaUsed = 0;
  private bindGroups = new Map<string, GPUBindGroup>();
  private asyncError: Error | null = null;
  private errorChecks: Promise<void>[] = [];
  private lostInfo: GPUDeviceLostInfo | null = null;
  private profiler: {
    querySet: GPUQuerySet;
    resolve: GPUBuffer;
    keys: string[];
    rows: Map<string, ProfileRow>;
    reads: Promise<void>[];
  } | null = null;
  private destroyed = false;
  readonly stats: GpuStats = {
    buffersCreated: 0,
    buffersDestroyed: 0,
    buffersLive: 0,
    buffersInUse: 0,
    bytesLive: 0,
    dispatches: 0,
    submits: 0,
    readbacks: 0,
    pipelines: 0,
  };

  private constructor(device: GPUDevice, info: AdapterDescription, keepAlive: unknown, debug: boolean) {
    this.device = device;
    this.info = info;
    this.keepAlive = keepAlive;
    this.debug = debug;
    this.arena = device.createBuffer({
      label: 'flowgpu uniform arena',
      size: UNIFORM_SLOT * ARENA_SLOTS,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    device.lost.then((info) => {
      this.lostInfo = info;
    });
    device.addEventListener('uncapturederror', (ev) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.asyncError ??= new FlowGpuError(`WebGPU error: ${err.message}`);
    });
  }

  static async create(opts: GpuOptions = {}): Promise<Gpu> {
    const a = await acquireDevice({ ...opts, wantFeatures: opts.wantFeatures ?? ['timestamp-query', 'shader-f16', 'subgroups'] });
    return new Gpu(a.device, a.info, a.keepAlive, opts.debug ?? false);
  }

  get limits(): Record<string, number> {
    return this.info.limits;
  }

  hasFeature(f: string): boolean {
    return this.info.features.includes(f);
  }

  private traitsMemo: AdapterTraits | null = null;

  /**
   * Facts about the adapter that pick kernel variants: whether it runs on the CPU (lavapipe,
   * SwiftShader, a fallback adapter) and whether it has 8-lane subgroups. Read once.
   */
  get traits(): AdapterTraits {
    if (this.traitsMemo) return this.traitsMemo;
    const ai = ((this.device as unknown as { adapterInfo?: Record<string, unknown> }).adapterInfo ?? {}) as Record<string, unknown>;
    const i = this.info;
    const dev = `${i.vendor} ${i.device} ${i.architecture} ${i.description}`.toLowerCase();
    const cpu = ai.isFallbackAdapter === true || i.architecture === 'software' || /llvmpipe|lavapipe|swiftshader|software/.test(dev);
    const subgroup8 = this.hasFeature('subgroups') && ai.subgroupMinSize === 8 && ai.subgroupMaxSize === 8;
    return (this.traitsMemo = { cpu, subgroup8 });
  }

  // ---------------------------------------------------------------- kernels

  family(src: KernelSource): KernelFamily {
    let f = this.families.get(src.name);
    if (!f) {
      f = new KernelFamily(src);
      this.families.set(src.name, f);
    }
    return f;
  }

  private pipelineFor(fam: KernelFamily, entry: string, overrides: Record<string, number>) {
    const okeys = Object.keys(overrides).sort();
    const key = `${fam.name}.${entry}|${okeys.map((k) => `${k}=${overrides[k]}`).join(',')}`;
    let p = this.pipelines.get(key);
    if (p) return p;
    const info = fam.entry(entry);
    for (const k of okeys) {
      if (!info.overrides.has(k) && !fam.code.includes(`override ${k}`)) {
        throw new FlowGpuError(`kernel '${fam.name}.${entry}': unknown override constant '${k}'`);
      }
    }
    const layout = this.device.createBindGroupLayout({
      label: `${fam.name}.${entry}`,
      entries: info.bindings.map((b) => ({
        binding: b.binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: {
          type: b.kind === 'uniform' ? 'uniform' : b.kind === 'read' ? 'read-only-storage' : 'storage',
          // The uniform slice moves through the arena from dispatch to dispatch: a dynamic offset
          // keeps the bind group itself reusable.
          hasDynamicOffset: b.kind === 'uniform',
        } as GPUBufferBindingLayout,
      })),
    });
    let module = this.modules.get(fam.name);
    if (!module) {
      module = this.device.createShaderModule({ label: fam.name, code: fam.code });
      this.modules.set(fam.name, module);
    }
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: entry, constants: overrides },
    });
    p = { pipeline, layout };
    this.pipelines.set(key, p);
    this.stats.pipelines++;
    return p;
  }
  private readonly modules = new Map<string, GPUShaderModule>();

  // ---------------------------------------------------------------- buffers

  alloc(bytes: number): PooledBuffer {
    this.checkAlive();
    if (!(bytes > 0)) bytes = 4;
    const cls = sizeClass(bytes);
    const list = this.free.get(cls);
    const reuse = list?.pop();
    if (reuse) {
      this.stats.buffersInUse++;
      return reuse;
    }
    const maxBuf = this.limits.maxBufferSize ?? 268435456;
    const maxBind = this.limits.maxStorageBufferBindingSize ?? 134217728;
    if (cls > Math.min(maxBuf, maxBind)) {
      throw new FlowGpuError(
        `out of memory: a tensor of ${bytes} bytes exceeds this adapter's largest storage buffer ` +
          `(${Math.min(maxBuf, maxBind)} bytes). Use a smaller batch or model.`,
      );
    }
    this.device.pushErrorScope('out-of-memory');
    const gpu = this.device.createBuffer({
      size: cls,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    const live = this.stats.bytesLive;
    this.errorChecks.push(
      this.device.popErrorScope().then((e) => {
        if (e && !this.lostInfo) {
          // (after a device loss allocations may fail too: that is reported as the loss, not as memory)
          this.asyncError ??= new FlowGpuError(
            `GPU out of memory allocating ${cls} bytes (${live} bytes already live in ` +
              `${this.stats.buffersLive} buffers): use a smaller batch or model. (${e.message})`,
          );
        }
      }),
    );
    this.stats.buffersCreated++;
    this.stats.buffersLive++;
    this.stats.buffersInUse++;
    this.stats.bytesLive += cls;
    return { gpu, bytes: cls, id: this.nextId++ };
  }

  release(buf: PooledBuffer): void {
    this.stats.buffersInUse--;
    let list = this.free.get(buf.bytes);
    if (!list) this.free.set(buf.bytes, (list = []));
    list.push(buf);
  }

  /** Destroys every pooled buffer not in use (e.g. after a large one-off computation). */
  trim(): void {
    this.flush();
    for (const list of this.free.values()) {
      for (const b of list) {
        b.gpu.destroy();
        this.stats.buffersDestroyed++;
        this.stats.buffersLive--;
        this.stats.bytesLive -= b.bytes;
      }
    }
    this.free.clear();
    this.bindGroups.clear();
  }

  private createStaging(cls: number): PooledBuffer {
    const gpu = this.device.createBuffer({ size: cls, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    this.stats.buffersCreated++;
    this.stats.buffersLive++;
    this.stats.bytesLive += cls;
    return { gpu, bytes: cls, id: this.nextId++ };
  }

  /** Writes host data into a buffer, in order with the commands recorded so far. */
  upload(dst: PooledBuffer, offset: number, data: ArrayBufferView): void {
    this.checkAlive();
    const bytes = data.byteLength;
    if (offset + bytes > dst.bytes) throw new FlowGpuError(`upload of ${bytes} bytes at ${offset} overflows a ${dst.bytes}-byte buffer`);
    const padded = (bytes + 3) & ~3;
    const src = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, bytes);
    if (!this.encoder) {
      if (padded === bytes) this.device.queue.writeBuffer(dst.gpu, offset, src);
      else {
        const tmp = new Uint8Array(padded);
        tmp.set(src);
        this.device.queue.writeBuffer(dst.gpu, offset, tmp);
      }
      return;
    }
    // Commands are pending: stage and copy inside the encoder to keep the order. The staging buffer
    // must not come from the shared pool: a pooled buffer may have been released while commands
    // that still use it are pending, and writeBuffer lands before those commands run. Staging
    // buffers have their own free list and are recycled only once their copy is submitted.
    const cls = sizeClass(padded);
    const staging = this.stagingFree.get(cls)?.pop() ?? this.createStaging(cls);
    const tmp = new Uint8Array(padded);
    tmp.set(src);
    this.device.queue.writeBuffer(staging.gpu, 0, tmp);
    this.copy(staging, 0, dst, offset, padded);
    this.pendingStaging.push(staging);
  }

  /** Fills a byte range with zeros, in order with pending commands. */
  clear(dst: PooledBuffer, offset: number, size: number): void {
    const enc = this.getEncoder();
    this.endPass();
    enc.clearBuffer(dst.gpu, offset, (size + 3) & ~3);
  }

  copy(src: PooledBuffer, srcOffset: number, dst: PooledBuffer, dstOffset: number, size: number): void {
    const enc = this.getEncoder();
    this.endPass();
    enc.copyBufferToBuffer(src.gpu, srcOffset, dst.gpu, dstOffset, (size + 3) & ~3);
  }

  // ---------------------------------------------------------------- dispatch

  dispatch(fam: KernelFamily, entry: string, spec: DispatchSpec): void {
    this.checkAlive();
    const info = fam.entry(entry);
    const label = spec.label ?? `${fam.name}.${entry}`;
    const where = `kernel '${fam.name}.${entry}' (${label})`;
    const wg = [spec.workgroups[0], spec.workgroups[1] ?? 1, spec.workgroups[2] ?? 1];
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    for (const n of wg) {
      if (!Number.isInteger(n) || n < 0 || n > maxWg) {
        throw new FlowGpuError(`${where}: workgroup count ${wg.join('×')} is invalid (each at most ${maxWg})`);
      }
    }
    const overrides = spec.overrides ?? {};
    const { pipeline, layout } = this.pipelineFor(fam, entry, overrides);
    // Check arguments against the reflected bindings before anything reaches the GPU.
    const given = new Set(Object.keys(spec.buffers));
    const entries: GPUBindGroupEntry[] = [];
    let key = `${fam.name}.${entry}|${JSON.stringify(overrides)}`;
    const align = this.limits.minStorageBufferOffsetAlignment ?? 256;
    const writable = new Map<number, string>();
    const usedBy = new Map<number, string>();
    const dynamicOffsets: number[] = [];
    for (const b of info.bindings) {
      if (b.kind === 'uniform') {
        if (!b.members || !b.size) throw new FlowGpuError(`${where}: uniform '${b.name}' has no struct layout`);
        if (this.arenaUsed >= ARENA_SLOTS) this.flush();
        const slot = this.arenaUsed++;
        packUniforms(where, b.members, spec.params ?? {}, this.arenaView, slot * UNIFORM_SLOT);
        entries.push({ binding: b.binding, resource: { buffer: this.arena, offset: 0, size: b.size } });
        dynamicOffsets.push(slot * UNIFORM_SLOT);
        continue;
      }
      const arg = spec.buffers[b.name];
      if (!arg) throw new FlowGpuError(`${where}: missing buffer for binding '${b.name}'`);
      given.delete(b.name);
      if (b.elem !== 'other' && arg.elem !== b.elem) {
        throw new FlowGpuError(`${where}: binding '${b.name}' holds ${b.elem} but was given a ${arg.elem} tensor`);
      }
      if (arg.size <= 0) throw new FlowGpuError(`${where}: binding '${b.name}' is empty`);
      if (arg.offset % align !== 0) {
        throw new FlowGpuError(`${where}: binding '${b.name}' starts at byte ${arg.offset}, not a multiple of ${align}`);
      }
      if (arg.offset + arg.size > arg.buffer.bytes) {
        throw new FlowGpuError(`${where}: binding '${b.name}' range ${arg.offset}+${arg.size} overflows its ${arg.buffer.bytes}-byte buffer`);
      }
      const id = arg.buffer.id;
      if (b.kind === 'read_write') {
        if (writable.has(id) || usedBy.has(id)) {
          throw new FlowGpuError(
            `${where}: binding '${b.name}' is writable and shares its buffer with '${writable.get(id) ?? usedBy.get(id)}'; ` +
              'WebGPU forbids that in one dispatch (use the read_write binding for in-place updates)',
          );
        }
        writable.set(id, b.name);
      } else if (writable.has(id)) {
        throw new FlowGpuError(`${where}: binding '${b.name}' shares its buffer with writable binding '${writable.get(id)}'`);
      }
      usedBy.set(id, b.name);
      entries.push({ binding: b.binding, resource: { buffer: arg.buffer.gpu, offset: arg.offset, size: arg.size } });
      key += `|${id}:${arg.offset}:${arg.size}`;
    }
    if (given.size) throw new FlowGpuError(`${where}: unknown binding(s) ${[...given].join(', ')}`);
    let bg = this.bindGroups.get(key);
    if (!bg) {
      if (this.bindGroups.size > 20000) this.bindGroups.clear();
      bg = this.device.createBindGroup({ label, layout, entries });
      this.bindGroups.set(key, bg);
    }
    const prof = this.profiler;
    if (prof && prof.keys.length * 2 >= PROFILE_QUERIES) this.flush();
    let pass: GPUComputePassEncoder;
    if (prof) {
      // one pass per dispatch, timestamped at its start and end
      this.endPass();
      const i = prof.keys.length;
      prof.keys.push(`${fam.name}.${entry}\u0000${label}\u0000${wg.join('×')}`);
      pass = this.getEncoder().beginComputePass({
        timestampWrites: { querySet: prof.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      });
      this.pass = pass;
    } else {
      pass = this.getPass();
    }
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg, dynamicOffsets);
    pass.dispatchWorkgroups(wg[0], wg[1], wg[2]);
    if (prof) this.endPass();
    this.stats.dispatches++;
    this.pendingLabels.push(label);
    if (this.debug) this.flush();
  }

  /** Workgroup counts for `n` threads of `wgSize` in a 2-D grid (each dimension ≤ the adapter limit). */
  grid(n: number, wgSize: number): [number, number, number] {
    const groups = Math.ceil(n / wgSize);
    const maxWg = this.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    if (groups <= maxWg) return [Math.max(groups, 1), 1, 1];
    const y = Math.ceil(groups / maxWg);
    return [Math.ceil(groups / y), y, 1];
  }

  private getEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private getPass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.getEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Submits everything recorded so far (one command buffer). */
  flush(): void {
    this.checkAlive();
    if (!this.encoder) return;
    this.endPass();
    const profiled = this.resolveProfile(this.encoder);
    const labels = this.pendingLabels;
    this.pendingLabels = [];
    if (this.arenaUsed) this.device.queue.writeBuffer(this.arena, 0, this.arenaCpu, 0, this.arenaUsed * UNIFORM_SLOT);
    this.arenaUsed = 0;
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('out-of-memory');
    this.device.queue.submit([this.encoder.finish()]);
    const oom = this.device.popErrorScope();
    const val = this.device.popErrorScope();
    const describe = () =>
      labels.length <= 8 ? labels.join(', ') : `${labels.slice(0, 4).join(', ')}, … ${labels.slice(-3).join(', ')} (${labels.length} dispatches)`;
    this.errorChecks.push(
      Promise.all([oom, val]).then(([o, v]) => {
        if (o) this.asyncError ??= new FlowGpuError(`GPU out of memory in a submit of [${describe()}]: use a smaller batch or model. (${o.message})`);
        if (v) this.asyncError ??= new FlowGpuError(`WebGPU validation error in a submit of [${describe()}]: ${v.message}`);
      }),
    );
    this.encoder = null;
    this.stats.submits++;
    profiled?.();
    for (const b of this.pendingRelease) this.release(b);
    this.pendingRelease = [];
    for (const b of this.pendingStaging) {
      let list = this.stagingFree.get(b.bytes);
      if (!list) this.stagingFree.set(b.bytes, (list = []));
      list.push(b);
    }
    this.pendingStaging = [];
  }

  // ---------------------------------------------------------------- profiling

  /**
   * Starts timing every dispatch with GPU timestamps (needs the `timestamp-query` feature; Dawn
   * quantises timestamps unless created with `dawnFlags: ['disable-dawn-features=timestamp_quantization']`).
   * Each dispatch then runs in a compute pass of its own, which costs a little; the step structure
   * (one submit per step, no read-backs) is unchanged. `stopProfile` returns the totals.
   */
  startProfile(): void {
    if (!this.hasFeature('timestamp-query')) {
      throw new FlowGpuError(`profiling needs the 'timestamp-query' feature, which adapter '${this.info.description || this.info.device}' does not offer`);
    }
    if (this.profiler) throw new FlowGpuError('a profile is already running (call stopProfile first)');
    this.flush();
    this.profiler = {
      querySet: this.device.createQuerySet({ type: 'timestamp', count: PROFILE_QUERIES }),
      resolve: this.device.createBuffer({ size: PROFILE_QUERIES * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
      keys: [],
      rows: new Map(),
      reads: [],
    };
  }

  /** Stops profiling and returns one row per (kernel, label, grid), the most expensive first. */
  async stopProfile(): Promise<ProfileRow[]> {
    const prof = this.profiler;
    if (!prof) throw new FlowGpuError('no profile is running (call startProfile first)');
    this.flush();
    this.profiler = null;
    await Promise.all(prof.reads);
    prof.querySet.destroy();
    prof.resolve.destroy();
    return [...prof.rows.values()].sort((a, b) => b.ms - a.ms);
  }

  /** Records the resolve of this submit's timestamps; the returned function starts their read-back. */
  private resolveProfile(enc: GPUCommandEncoder): (() => void) | null {
    const prof = this.profiler;
    if (!prof || prof.keys.length === 0) return null;
    const keys = prof.keys;
    prof.keys = [];
    const bytes = keys.length * 16;
    const read = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.resolveQuerySet(prof.querySet, 0, keys.length * 2, prof.resolve, 0);
    enc.copyBufferToBuffer(prof.resolve, 0, read, 0, bytes);
    return () => {
      prof.reads.push(
        read.mapAsync(GPUMapMode.READ).then(() => {
          const ts = new BigUint64Array(read.getMappedRange());
          keys.forEach((key, i) => {
            const [kernel, label, grid] = key.split('\u0000');
            let row = prof.rows.get(key);
            if (!row) prof.rows.set(key, (row = { kernel, label, grid, count: 0, ms: 0 }));
            row.count++;
            if (ts[2 * i + 1] > ts[2 * i]) row.ms += Number(ts[2 * i + 1] - ts[2 * i]) / 1e6;
          });
          read.unmap();
          read.destroy();
        }),
      );
    };
  }

  /** Waits for all submitted work and throws the first asynchronous error, if any. */
  async sync(): Promise<void> {
    this.flush();
    await this.raceLost(this.device.queue.onSubmittedWorkDone());
    await this.checkErrors();
  }

  private async checkErrors(): Promise<void> {
    const checks = this.errorChecks;
    this.errorChecks = [];
    await Promise.all(checks);
    if (this.asyncError) {
      const e = this.asyncError;
      this.asyncError = null;
      throw e;
    }
  }

  /** Copies a byte range back to the host (flushes pending work first). */
  async read(src: PooledBuffer, offset: number, size: number): Promise<ArrayBuffer> {
    this.checkAlive();
    const bytes = (size + 3) & ~3;
    const cls = sizeClass(bytes);
    const list = this.readBuffers.get(cls) ?? [];
    this.readBuffers.set(cls, list);
    const staging =
      list.pop() ?? this.device.createBuffer({ size: cls, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.getEncoder();
    this.copy(src, offset, { gpu: staging, bytes: cls, id: -1 }, 0, bytes);
    this.flush();
    this.stats.readbacks++;
    try {
      await this.raceLost(staging.mapAsync(GPUMapMode.READ, 0, bytes));
    } catch (e) {
      await this.checkErrors();
      throw e;
    }
    const out = staging.getMappedRange(0, bytes).slice(0, size);
    staging.unmap();
    list.push(staging);
    await this.checkErrors();
    return out;
  }

  private raceLost<T>(p: Promise<T>): Promise<T> {
    return Promise.race([
      p,
      this.device.lost.then((info) => {
        throw new FlowGpuError(`GPU device lost (${info.reason}): ${info.message}`);
      }),
    ]);
  }

  private checkAlive(): void {
    if (this.lostInfo) {
      throw new FlowGpuError(
        `GPU device lost (${this.lostInfo.reason}): ${this.lostInfo.message || 'no message'}. ` +
          (this.destroyed ? 'It was destroyed; create a new one with initGpu().' : 'Restart the program; if it recurs, reduce the batch size (the driver may have reset after a long kernel).'),
      );
    }
    if (this.destroyed) throw new FlowGpuError('this GPU runtime was destroyed; create a new one with initGpu()');
  }

  destroy(): void {
    if (this.destroyed) return;
    try {
      this.flush();
    } catch {
      /* destroying anyway */
    }
    this.destroyed = true;
    this.device.destroy();
    void this.keepAlive;
  }
}
