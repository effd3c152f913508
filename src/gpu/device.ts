/**
 * Device acquisition, the same call in Node and in browsers: `navigator.gpu` when the page has it,
 * otherwise Dawn's node bindings from the `webgpu` package (imported lazily, so browser bundles
 * never load it). The object Dawn's `create()` returns must stay referenced for the device's whole
 * life (node aborts in a futex error when it is collected), so it is kept on the result.
 */
import { FlowGpuError, NO_ADAPTER_HELP, NO_BROWSER_ADAPTER_HELP } from './errors.js';
import type { WebGpuAdapter, WebGpuDevice, WebGpuPowerPreference } from './webgpu-types.js';

export interface AcquireOptions {
  powerPreference?: WebGpuPowerPreference;
  /** Dawn toggles, e.g. `disable-dawn-features=timestamp_quantization` (Node only). */
  dawnFlags?: string[];
  /** Ask for these optional features (WebGPU feature names) when the adapter has them. */
  wantFeatures?: string[];
}

export interface Acquired {
  device: WebGpuDevice;
  adapter: WebGpuAdapter;
  info: AdapterDescription;
  /** Keeps Dawn's GPU object alive; never read. */
  keepAlive: unknown;
}

/** The adapter flowgpu found: vendor, architecture, device, backend, features and limits (`Gpu.info`). */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  backend: 'node-dawn' | 'browser';
  features: string[];
  limits: Record<string, number>;
}

function isBrowserGpu(): GPU | null {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav && nav.gpu ? nav.gpu : null;
}

async function nodeGpu(flags: string[]): Promise<GPU> {
  let mod: { create: (flags: string[]) => GPU; globals: object };
  try {
    const name = 'webgpu';
    mod = await import(/* @vite-ignore */ name);
  } catch (e) {
    throw new FlowGpuError(
      `Could not load the 'webgpu' package (Dawn's node bindings): ${(e as Error).message}. ` +
        'Run `npm install` in the project, or use flowgpu in a browser with WebGPU.',
    );
  }
  // GPUBufferUsage, GPUMapMode, … as globals, the way browsers define them.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  if (typeof process !== 'undefined' && process.env && !process.env.XDG_RUNTIME_DIR) {
    process.env.XDG_RUNTIME_DIR = '/tmp';
  }
  return mod.create(flags);
}

export async function acquireDevice(opts: AcquireOptions = {}): Promise<Acquired> {
  const browser = isBrowserGpu();
  const gpu = browser ?? (await nodeGpu(opts.dawnFlags ?? []));
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new FlowGpuError(browser && typeof process === 'undefined' ? NO_BROWSER_ADAPTER_HELP : NO_ADAPTER_HELP);
  const features: string[] = [...adapter.features];
  const requiredFeatures = (opts.wantFeatures ?? []).filter((f) => features.includes(f)) as GPUFeatureName[];
  // The defaults are small (128 MiB storage bindings, 16 KiB workgroup memory): ask for all the
  // adapter offers.
  const requiredLimits: Record<string, number> = {};
  const lim = adapter.limits as unknown as Record<string, number>;
  for (const key of [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBuffersPerShaderStage',
  ]) {
    if (typeof lim[key] === 'number') requiredLimits[key] = lim[key];
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const ai = adapter.info ?? ({} as GPUAdapterInfo);
  const limits: Record<string, number> = {};
  for (const key in device.limits) {
    const v = (device.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') limits[key] = v;
  }
  const info: AdapterDescription = {
    vendor: ai.vendor ?? '',
    architecture: ai.architecture ?? '',
    device: ai.device ?? '',
    description: ai.description ?? '',
    backend: browser ? 'browser' : 'node-dawn',
    features: [...device.features].sort(),
    limits,
  };
  return { device, adapter, info, keepAlive: gpu };
}

/** A short file-name-safe name for the adapter, e.g. `mesa-llvmpipe` or `nvidia-h100`. */
export function adapterSlug(info: AdapterDescription): string {
  const raw = `${info.vendor}-${info.device || info.architecture || info.description}`.toLowerCase();
  return raw.replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60) || 'unknown-adapter';
}
