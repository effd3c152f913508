/**
 * NumPy .npy files (pure: bytes in, bytes out).
 *
 * Writer: format 1.0, exactly as `numpy.save` (NumPy 2.x) writes it: magic "\x93NUMPY", version
 * 1.0, u16 little-endian header length, then the header dict
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (N, 2), }`, followed by
 * 21 − len(repr(shape[0])) spare spaces (NumPy's room to grow the first axis in place), then spaces
 * and a final '\n' so that magic + length + header is a multiple of 64 bytes (NumPy pads a full 64
 * when already aligned). Data: little-endian, C order.
 *
 * Reader: versions 1.0, 2.0 and 3.0; dtypes '<f4' (float32), '<i4' (int32) and '|u1' (uint8: 8-bit
 * images), C order. Anything else is rejected with a message that says what was found.
 */
import { FlowGpuError } from '../gpu/errors.js';

/** A decoded .npy array: dtype (float32, int32 or uint8), shape and C-order data. */
export interface NpyArray {
  dtype: 'float32' | 'int32' | 'uint8';
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ARRAY_ALIGN = 64;
const GROWTH_AXIS_MAX_DIGITS = 21;

function shapeRepr(shape: readonly number[]): string {
  if (shape.length === 0) return '()';
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** The .npy 1.0 header (magic through the final '\n') that NumPy writes for `descr` and `shape`. */
export function npyHeader(descr: '<f4' | '<i4', shape: readonly number[]): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeRepr(shape)}, }`;
  if (shape.length > 0) header += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  const hlen = header.length + 1; // + '\n'
  const padlen = ARRAY_ALIGN - ((MAGIC.length + 2 + 2 + hlen) % ARRAY_ALIGN);
  const total = hlen + padlen;
  if (total > 0xffff) throw new FlowGpuError(`npy: header of ${total} bytes is too long for format 1.0`);
  const out = new Uint8Array(10 + total);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = total & 0xff;
  out[9] = total >> 8;
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.fill(0x20, 10 + header.length, 10 + total - 1);
  out[10 + total - 1] = 0x0a;
  return out;
}

/** Encodes a float32 or int32 array of the given shape (C order) as a .npy file. */
export function encodeNpy(data: Float32Array | Int32Array, shape: readonly number[]): Uint8Array {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new FlowGpuError(`npy: invalid shape [${shape.join(', ')}]`);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new FlowGpuError(`npy: shape [${shape.join(', ')}] holds ${n} values, got ${data.length}`);
  const descr = data instanceof Float32Array ? '<f4' : data instanceof Int32Array ? '<i4' : null;
  if (!descr) throw new FlowGpuError('npy: flowgpu writes Float32Array or Int32Array data');
  const header = npyHeader(descr, shape);
  const out = new Uint8Array(header.length + data.byteLength);
  out.set(header, 0);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), header.length);
  return out;
}

/** Decodes a .npy file holding '<f4', '<i4' or '|u1' data in C order. `where` prefixes error messages. */
export function decodeNpy(bytes: Uint8Array, where?: string): NpyArray {
  const fail = (msg: string) => new FlowGpuError(`${where ? `${where}: ` : ''}${msg}`);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw fail('not a .npy file (bad magic: it does not start with "\\x93NUMPY")');
  }
  const major = bytes[6];
  let hlen: number;
  let start: number;
  if (major === 1) {
    hlen = bytes[8] | (bytes[9] << 8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw fail('truncated .npy file (header length missing)');
    hlen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
    start = 12;
  } else {
    throw fail(`unsupported .npy format version ${major}.${bytes[7]} (flowgpu reads 1.0, 2.0 and 3.0)`);
  }
  if (start + hlen > bytes.length) throw fail(`truncated .npy file: the header needs ${hlen} bytes, ${bytes.length - start} present`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + hlen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw fail(`corrupt .npy header: ${JSON.stringify(header.trim())}`);
  }
  let dtype: NpyArray['dtype'];
  if (descr === '<f4' || (descr === '=f4')) dtype = 'float32';
  else if (descr === '<i4' || descr === '=i4') dtype = 'int32';
  else if (descr === '|u1' || descr === '<u1' || descr === '=u1') dtype = 'uint8';
  else throw fail(`unsupported .npy dtype '${descr}': flowgpu reads float32 ('<f4'), int32 ('<i4') and uint8 ('|u1') (in NumPy: a.astype(np.float32))`);
  if (fortran === 'True') throw fail('unsupported .npy layout: fortran_order is True (save a C-ordered array: np.ascontiguousarray(a))');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const v = Number(s.replace(/L$/, ''));
      if (!Number.isSafeInteger(v) || v < 0) throw fail(`corrupt .npy header: bad shape (${shapeText})`);
      return v;
    });
  const n = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + hlen;
  const need = n * (dtype === 'uint8' ? 1 : 4);
  if (bytes.length - dataStart < need) {
    throw fail(`truncated .npy file: shape (${shape.join(', ')}) needs ${need} bytes of data, ${bytes.length - dataStart} present`);
  }
  if (bytes.length - dataStart > need) {
    throw fail(`corrupt .npy file: ${bytes.length - dataStart - need} bytes after the data of shape (${shape.join(', ')})`);
  }
  const copy = bytes.slice(dataStart, dataStart + need);
  const data = dtype === 'float32' ? new Float32Array(copy.buffer) : dtype === 'int32' ? new Int32Array(copy.buffer) : copy;
  return { dtype, shape, data };
}
