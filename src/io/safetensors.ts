/**
 * safetensors encode/decode (pure: bytes in, bytes out; the file system lives in node-files.ts).
 *
 * Layout (huggingface/safetensors): 8 bytes little-endian u64 N, then N bytes of UTF-8 JSON, then the
 * tensor data. The JSON maps each tensor name to {dtype, shape, data_offsets: [begin, end)} (offsets
 * relative to the start of the data section), plus an optional `__metadata__` map of string to
 * string. Tensors are little-endian, C order.
 *
 * The writer follows the reference implementation byte for byte: tensors are sorted by descending
 * dtype alignment, then by name, and laid out back to back in that order; the header JSON is compact
 * with `__metadata__` first and the tensors in offset order; the header is padded with spaces to a
 * multiple of 8 bytes so the data section is 8-byte aligned.
 *
 * The reader validates everything before touching data and says what is wrong: truncated files,
 * a header length beyond the file, bad JSON, unsupported dtypes, shape × dtype ≠ byte length,
 * offsets out of range, overlapping or leaving gaps (the reference rejects gaps too), trailing bytes.
 * flowgpu reads and writes F32, I32 and F16 (half precision, for shipping weights at half the size:
 * the data of an F16 tensor is its raw bits, a Uint16Array; `toHalf` narrows F32 tensors with
 * IEEE round-to-nearest-even, `widenHalf` turns them back into F32, exactly). Typed arrays are
 * copied out, so they are aligned and independent of the input bytes; a little-endian host is
 * assumed (every WebGPU platform is).
 *
 * `matchTensors` checks a decoded file against what a model expects (names and shapes) and names
 * the first difference, with an optional hint built from the configs ("hidden: 512 vs 256").
 */
import { FlowGpuError } from '../gpu/errors.js';

/** The safetensors dtypes flowgpu reads and writes: 'F32', 'I32' and 'F16' (half precision). */
export type SafeDType = 'F32' | 'I32' | 'F16';

/**
 * One tensor of a safetensors file on the host: its name, dtype, shape and data (F16: the raw
 * IEEE half bits as a Uint16Array; `widenHalf` gives F32 values).
 */
export interface NamedTensor {
  name: string;
  dtype: SafeDType;
  shape: number[];
  data: Float32Array | Int32Array | Uint16Array;
}

const ARRAY_OF: Record<SafeDType, Float32ArrayConstructor | Int32ArrayConstructor | Uint16ArrayConstructor> = {
  F32: Float32Array, I32: Int32Array, F16: Uint16Array,
};

/** A decoded safetensors file: its tensors in data-offset order and its `__metadata__` strings. */
export interface SafetensorsFile {
  /** In data-offset order. */
  tensors: NamedTensor[];
  /** The `__metadata__` map ({} when absent). */
  metadata: Record<string, string>;
}

/** Reference implementation's limit on the header size. */
export const MAX_HEADER_BYTES = 100_000_000;

// The reference's Dtype enum order (increasing alignment); the writer sorts by it, descending.
const DTYPE_RANK: Record<string, number> = {
  BOOL: 0, U8: 1, I8: 2, F8_E5M2: 3, F8_E4M3: 4, I16: 5, U16: 6, F16: 7, BF16: 8, I32: 9, U32: 10, F32: 11, F64: 12, I64: 13, U64: 14,
};
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

function err(where: string | undefined, msg: string): FlowGpuError {
  return new FlowGpuError(`${where ? `${where}: ` : ''}${msg}`);
}

const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function compareNames(a: string, b: string): number {
  // Rust's String ordering is bytewise UTF-8; UTF-16 code-unit order agrees except for astral
  // characters, which parameter names do not contain.
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Encodes tensors and string metadata into a safetensors file. `metadata` values must be strings
 * (store structured values as JSON strings); pass `null` to write no `__metadata__` at all.
 */
export function encodeSafetensors(tensors: readonly NamedTensor[], metadata: Record<string, string> | null = {}): Uint8Array {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__') throw new FlowGpuError(`safetensors: '__metadata__' is reserved and cannot name a tensor`);
    if (seen.has(t.name)) throw new FlowGpuError(`safetensors: tensor '${t.name}' appears twice`);
    seen.add(t.name);
    if (!Object.hasOwn(ARRAY_OF, t.dtype)) throw new FlowGpuError(`safetensors: tensor '${t.name}' has dtype ${t.dtype}; flowgpu writes F32, I32 and F16`);
    const want = ARRAY_OF[t.dtype];
    if (!(t.data instanceof want)) throw new FlowGpuError(`safetensors: tensor '${t.name}' is ${t.dtype} but its data is a ${t.data.constructor.name}`);
    for (const d of t.shape) {
      if (!Number.isInteger(d) || d < 0) throw new FlowGpuError(`safetensors: tensor '${t.name}' has an invalid shape ${fmtShape(t.shape)}`);
    }
    if (numel(t.shape) !== t.data.length) {
      throw new FlowGpuError(`safetensors: tensor '${t.name}' has shape ${fmtShape(t.shape)} (${numel(t.shape)} elements) but ${t.data.length} values`);
    }
  }
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new FlowGpuError(`safetensors: metadata '${k}' must be a string (store structured values as JSON strings)`);
    }
  }
  const order = [...tensors].sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareNames(a.name, b.name));
  // JSON.stringify writes compact JSON in insertion order, as serde_json does for the reference.
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of order) {
    const bytes = t.data.byteLength;
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  const n = json.length + pad;
  const out = new Uint8Array(8 + n + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, n % 2 ** 32, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let pos = 8 + n;
  for (const t of order) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

interface RawInfo {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Decodes a safetensors file. `where` (a file name) prefixes error messages. Throws a FlowGpuError
 * that names the problem for every malformed input.
 */
export function decodeSafetensors(bytes: Uint8Array, where?: string): SafetensorsFile {
  if (bytes.length < 8) {
    throw err(where, `not a safetensors file: ${bytes.length} bytes, shorter than the 8-byte header length (truncated?)`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (n > MAX_HEADER_BYTES) {
    throw err(where, `not a safetensors file: header length ${n} is beyond the 100 MB limit (wrong file type, or corrupt)`);
  }
  if (8 + n > bytes.length) {
    throw err(where, `truncated safetensors file: the header length says ${n} bytes but only ${bytes.length - 8} follow`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw err(where, 'corrupt safetensors header: it is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw err(where, `corrupt safetensors header: bad JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) {
    throw err(where, 'corrupt safetensors header: the JSON is not an object');
  }
  const metadata: Record<string, string> = {};
  const infos: RawInfo[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw err(where, `corrupt safetensors header: __metadata__ is not a map of strings`);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw err(where, `corrupt safetensors header: __metadata__ '${k}' is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    infos.push(parseInfo(name, value, where));
  }
  const dataLen = bytes.length - 8 - n;
  for (const t of infos) {
    if (!(t.dtype in DTYPE_BYTES)) throw err(where, `tensor '${t.name}' has an unknown dtype '${t.dtype}'`);
    const want = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.end < t.begin) throw err(where, `tensor '${t.name}' has data_offsets [${t.begin}, ${t.end}] that end before they begin`);
    if (t.end - t.begin !== want) {
      throw err(where, `tensor '${t.name}' is ${t.dtype} ${fmtShape(t.shape)} (${want} bytes) but its data_offsets [${t.begin}, ${t.end}] span ${t.end - t.begin} bytes`);
    }
    if (t.end > dataLen) {
      throw err(where, `truncated safetensors file: tensor '${t.name}' needs bytes [${t.begin}, ${t.end}) of the data section, which has only ${dataLen}`);
    }
  }
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: RawInfo | null = null;
  for (const t of sorted) {
    if (t.begin < pos) throw err(where, `corrupt safetensors header: tensors '${prev!.name}' and '${t.name}' overlap (data_offsets [${prev!.begin}, ${prev!.end}] and [${t.begin}, ${t.end}])`);
    if (t.begin > pos) throw err(where, `corrupt safetensors header: bytes [${pos}, ${t.begin}) of the data section belong to no tensor (before '${t.name}')`);
    pos = t.end;
    prev = t;
  }
  if (pos !== dataLen) {
    throw err(where, `corrupt safetensors file: ${dataLen - pos} trailing bytes after the last tensor (the header accounts for ${pos} of ${dataLen})`);
  }
  const tensors: NamedTensor[] = [];
  const base = 8 + n;
  for (const t of sorted) {
    if (!Object.hasOwn(ARRAY_OF, t.dtype)) {
      throw err(where, `tensor '${t.name}' has dtype ${t.dtype}; flowgpu reads F32, I32 and F16 (in PyTorch, save with tensor.float())`);
    }
    const dtype = t.dtype as SafeDType;
    // Uint8Array's slice copies; a Node Buffer's own slice() is a view into its (pooled) memory
    const copy = Uint8Array.prototype.slice.call(bytes, base + t.begin, base + t.end);
    tensors.push({ name: t.name, dtype, shape: t.shape, data: new ARRAY_OF[dtype](copy.buffer) });
  }
  return { tensors, metadata };
}

function parseInfo(name: string, value: unknown, where?: string): RawInfo {
  const bad = (what: string) => err(where, `corrupt safetensors header: tensor '${name}' ${what}`);
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw bad('is not an object');
  const v = value as Record<string, unknown>;
  if (typeof v.dtype !== 'string') throw bad('has no dtype');
  if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad('has an invalid shape');
  const off = v.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad('has invalid data_offsets');
  return { name, dtype: v.dtype, shape: v.shape as number[], begin: off[0] as number, end: off[1] as number };
}

// ------------------------------------------------------------------------------ half precision

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The IEEE 754 half-precision bits nearest to x (float32 first), ties to even; overflow → ±∞. */
function halfBits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // ±∞; NaN stays a (quiet) NaN
  const e = exp - 112; // the half exponent field of a normal result
  if (e >= 0x1f) return sign | 0x7c00;
  // Normal: keep 10 of the 23 mantissa bits. Subnormal (e ≤ 0): the value is m·2⁻²⁴, m = full·2^(e−14).
  const full = e > 0 ? mant : exp === 0 ? 0 : mant | 0x800000;
  const shift = e > 0 ? 13 : 14 - e;
  if (shift > 24) return sign; // below half the smallest subnormal
  let q = full >>> shift;
  const rem = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rem > halfway || (rem === halfway && (q & 1))) q++; // a carry into the exponent is still right
  return sign | (e > 0 ? (e << 10) + q : q);
}

/** The value of IEEE half bits (exact in float32). */
function halfValue(h: number): number {
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** Float values → IEEE half bits, each rounded to the nearest half (ties to even; beyond ±65520 → ±∞). */
export function f32ToF16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = halfBits(values[i]);
  return out;
}

/** IEEE half bits → float32 values (exact: every half is a float32). */
export function f16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfValue(bits[i]);
  return out;
}

/**
 * The tensors with every F32 one narrowed to F16 (round to nearest even), for files that ship
 * weights at half the size; others are passed through. Throws when a finite value overflows half
 * precision (|x| ≥ 65520), which would silently become ∞.
 */
export function toHalf(tensors: readonly NamedTensor[]): NamedTensor[] {
  return tensors.map((t) => {
    if (t.dtype !== 'F32') return t;
    const bits = f32ToF16(t.data);
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++) {
      if (Number.isFinite(d[i]) && (bits[i] & 0x7c00) === 0x7c00) {
        throw new FlowGpuError(`safetensors: tensor '${t.name}' holds ${d[i]} at element ${i}, beyond half precision (|x| < 65520): keep it F32`);
      }
    }
    return { ...t, dtype: 'F16', data: bits };
  });
}

/** The file with every F16 tensor widened to F32 (exactly), so F16 files load like F32 ones. */
export function widenHalf<T extends SafetensorsFile>(file: T): T {
  if (!file.tensors.some((t) => t.dtype === 'F16')) return file;
  return { ...file, tensors: file.tensors.map((t) => (t.dtype === 'F16' ? { ...t, dtype: 'F32', data: f16ToF32(t.data as Uint16Array) } : t)) };
}

/** A tensor by name, or undefined. */
export function findTensor(file: SafetensorsFile, name: string): NamedTensor | undefined {
  return file.tensors.find((t) => t.name === name);
}

export interface MatchOptions {
  /** Only tensors whose names start with this prefix are compared (the prefix is stripped). */
  prefix?: string;
  /** Tensors in the file that the model does not have are ignored instead of rejected. */
  allowExtra?: boolean;
  /** Appended to a shape-mismatch message, e.g. "was it trained with --hidden 512?". */
  hint?: (name: string, got: readonly number[], want: readonly number[]) => string | undefined;
  /** This run's config: a mismatch message lists the keys where the file's config differs. */
  config?: Record<string, unknown>;
  /** The metadata key holding the file's config as JSON (default 'config'). */
  configKey?: string;
  /** Names the file in messages. */
  where?: string;
  /** What the tensors belong to in messages (default 'the model'). */
  what?: string;
}

/**
 * Checks that `file` holds exactly the tensors `expected` lists (name → shape), each F32 unless
 * given otherwise, and throws a FlowGpuError naming the first difference:
 * "checkpoint has 'net.0.weight' [512, 3] but the model expects [256, 3]".
 * Returns the matching tensors in the order of `expected`.
 */
export function matchTensors(
  file: SafetensorsFile,
  expected: Iterable<readonly [string, readonly number[], SafeDType?]>,
  opts: MatchOptions = {},
): NamedTensor[] {
  const prefix = opts.prefix ?? '';
  const what = opts.what ?? 'the model';
  const byName = new Map<string, NamedTensor>();
  for (const t of file.tensors) if (t.name.startsWith(prefix)) byName.set(t.name.slice(prefix.length), t);
  const configNote = () => {
    const diff = opts.config ? configDifference(file.metadata[opts.configKey ?? 'config'], opts.config) : '';
    return diff ? ` (the checkpoint's config differs: ${diff})` : '';
  };
  const fail = (msg: string) => err(opts.where, msg + configNote());
  const out: NamedTensor[] = [];
  const wanted = new Set<string>();
  for (const [name, shape, dtype = 'F32'] of expected) {
    wanted.add(name);
    const t = byName.get(name);
    if (!t) {
      const have = [...byName.keys()];
      const list = have.length > 8 ? `${have.slice(0, 8).join(', ')}, … (${have.length} in all)` : have.join(', ') || 'none';
      throw fail(`checkpoint has no tensor '${prefix}${name}' ${fmtShape(shape)}, which ${what} expects (it has: ${list})`);
    }
    if (t.shape.join() !== shape.join()) {
      const hint = opts.hint?.(prefix + name, t.shape, shape);
      throw fail(`checkpoint has '${prefix}${name}' ${fmtShape(t.shape)} but ${what} expects ${fmtShape(shape)}${hint ? `: ${hint}` : ''}`);
    }
    if (t.dtype !== dtype) throw fail(`checkpoint has '${prefix}${name}' as ${t.dtype} but ${what} expects ${dtype}`);
    out.push(t);
  }
  if (!opts.allowExtra) {
    for (const [name, t] of byName) {
      if (!wanted.has(name)) throw fail(`checkpoint has a tensor '${prefix}${name}' ${fmtShape(t.shape)} that ${what} does not have`);
    }
  }
  return out;
}

/** "hidden: 512 vs 256, depth: 4 vs 3" for the keys where the stored JSON config differs. */
export function configDifference(storedJson: string | undefined, current: Record<string, unknown>): string {
  if (!storedJson) return '';
  let stored: unknown;
  try {
    stored = JSON.parse(storedJson);
  } catch {
    return '';
  }
  if (!stored || typeof stored !== 'object') return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(current)) {
    const s = (stored as Record<string, unknown>)[k];
    if (s !== undefined && JSON.stringify(s) !== JSON.stringify(v)) parts.push(`${k}: ${JSON.stringify(s)} vs ${JSON.stringify(v)}`);
  }
  return parts.join(', ');
}
