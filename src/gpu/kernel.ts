/**
 * Kernel registry: a WGSL source is reflected once with `wgsl_reflect`, which gives for every
 * compute entry point its bindings (name, group, binding, storage read / read_write / uniform), its
 * workgroup size and the layout of its uniform struct. From that the runtime builds bind group
 * layouts, packs uniform values by member name, and checks each dispatch's arguments before it
 * reaches the GPU. Pipelines are compiled once per (entry point, override constants) and cached.
 */
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { FlowGpuError } from './errors.js';

export type Scalar = 'f32' | 'u32' | 'i32';

export interface UniformMember {
  name: string;
  offset: number;
  /** Number of 4-byte words the member spans (vec4u = 4, array<vec4u, 2> = 8). */
  words: number;
  scalar: Scalar;
}

export interface BindingInfo {
  name: string;
  binding: number;
  kind: 'read' | 'read_write' | 'uniform';
  /** Element type of a storage array: f32, u32 or i32 (what the buffer must hold). */
  elem: Scalar | 'other';
  /** For the uniform binding: its struct members. */
  members?: UniformMember[];
  size?: number;
}

export interface EntryInfo {
  entry: string;
  bindings: BindingInfo[];
  workgroupSizeExpr: (string | number)[];
  overrides: Map<string, number>;
}

export interface KernelSource {
  /** Family name, usually the file name: `matmul`, `unary`, … */
  name: string;
  code: string;
}

function scalarOf(type: { name: string; format?: unknown } | null | undefined): Scalar | 'other' {
  if (!type) return 'other';
  const n = type.name;
  if (n === 'f32' || n === 'u32' || n === 'i32') return n;
  const m = /^vec[234]([fui])$/.exec(n);
  if (m) return ({ f: 'f32', u: 'u32', i: 'i32' } as const)[m[1] as 'f' | 'u' | 'i'];
  if (n === 'atomic') return scalarOf(type.format as { name: string });
  if (type.format) return scalarOf(type.format as { name: string });
  return 'other';
}

/** Parsed once per family. */
export class KernelFamily {
  readonly name: string;
  readonly code: string;
  readonly entries = new Map<string, EntryInfo>();
  constructor(src: KernelSource) {
    this.name = src.name;
    this.code = src.code;
    let reflect: WgslReflect;
    try {
      reflect = new WgslReflect(src.code);
    } catch (e) {
      throw new FlowGpuError(`kernel family '${src.name}': WGSL reflection failed: ${(e as Error).message}`);
    }
    const defaults = new Map<string, number>();
    for (const o of reflect.overrides) {
      const decl = (o as unknown as { declaration?: { value?: { value?: unknown } } }).declaration;
      const v = Number(decl?.value?.value ?? NaN);
      if (!Number.isNaN(v)) defaults.set(o.name, v);
    }
    for (const f of reflect.entry.compute) {
      const bindings: BindingInfo[] = [];
      for (const r of f.resources) {
        if (r.group !== 0) throw new FlowGpuError(`kernel '${src.name}.${f.name}': only @group(0) is supported`);
        if (r.resourceType === 0) {
          const members: UniformMember[] = (r.type as unknown as { members: any[] }).members.map((m) => ({
            name: m.name,
            offset: m.offset,
            words: m.size / 4,
            scalar: scalarOf(m.type) as Scalar,
          }));
          bindings.push({ name: r.name, binding: r.binding, kind: 'uniform', elem: 'other', members, size: r.type.size });
        } else if (r.resourceType === 1) {
          const access = r.access === 'read' ? 'read' : 'read_write';
          bindings.push({ name: r.name, binding: r.binding, kind: access, elem: scalarOf(r.type as any) });
        } else {
          throw new FlowGpuError(`kernel '${src.name}.${f.name}': binding '${r.name}' is not a buffer`);
        }
      }
      bindings.sort((a, b) => a.binding - b.binding);
      const wgAttr = f.attributes?.find((a: { name: string }) => a.name === 'workgroup_size');
      const raw = wgAttr ? (Array.isArray(wgAttr.value) ? wgAttr.value : [wgAttr.value]) : [1];
      const workgroupSizeExpr = raw.map((v: unknown) => (/^\d+u?$/.test(String(v)) ? parseInt(String(v), 10) : String(v)));
      this.entries.set(f.name, { entry: f.name, bindings, workgroupSizeExpr, overrides: defaults });
    }
  }

  entry(name: string): EntryInfo {
    const e = this.entries.get(name);
    if (!e) {
      throw new FlowGpuError(
        `kernel family '${this.name}' has no entry point '${name}' (it has: ${[...this.entries.keys()].join(', ')})`,
      );
    }
    return e;
  }
}

/** Workgroup size of an entry point once override constants are applied. */
export function workgroupSize(e: EntryInfo, overrides: Record<string, number> = {}): [number, number, number] {
  const dims = e.workgroupSizeExpr.map((v) => {
    if (typeof v === 'number') return v;
    const o = overrides[v] ?? e.overrides.get(v);
    if (o === undefined) throw new FlowGpuError(`workgroup size '${v}' of '${e.entry}' is not a known override`);
    return o;
  });
  while (dims.length < 3) dims.push(1);
  return dims as [number, number, number];
}

/**
 * Writes named values into a uniform block. Every member must be given, and nothing else: a typo or a
 * forgotten parameter is an error here, not a silent zero on the GPU.
 */
export function packUniforms(
  where: string,
  members: UniformMember[],
  values: Record<string, number | readonly number[]>,
  view: DataView,
  base: number,
): void {
  for (const m of members) {
    if (m.name.startsWith('_')) continue; // padding
    const v = values[m.name];
    if (v === undefined) throw new FlowGpuError(`${where}: missing uniform parameter '${m.name}'`);
    const arr = typeof v === 'number' ? [v] : v;
    if (arr.length > m.words) {
      throw new FlowGpuError(`${where}: uniform '${m.name}' takes ${m.words} values, got ${arr.length}`);
    }
    for (let i = 0; i < m.words; i++) {
      const x = i < arr.length ? arr[i] : 0;
      const at = base + m.offset + 4 * i;
      if (m.scalar === 'f32') view.setFloat32(at, x, true);
      else if (m.scalar === 'u32') {
        if (!(x >= 0 && x <= 0xffffffff && Number.isInteger(x))) {
          throw new FlowGpuError(`${where}: uniform '${m.name}' must be an unsigned 32-bit integer, got ${x}`);
        }
        view.setUint32(at, x, true);
      } else {
        if (!Number.isInteger(x)) throw new FlowGpuError(`${where}: uniform '${m.name}' must be an integer, got ${x}`);
        view.setInt32(at, x, true);
      }
    }
  }
  for (const k of Object.keys(values)) {
    if (!members.some((m) => m.name === k)) {
      throw new FlowGpuError(`${where}: unknown uniform parameter '${k}' (the kernel takes: ${members.map((m) => m.name).join(', ')})`);
    }
  }
}
