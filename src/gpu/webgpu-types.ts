/**
 * The WebGPU objects flowgpu's public declarations expose (`Gpu.device`, `PooledBuffer.gpu`, …),
 * named through these aliases instead of WebGPU's global interfaces.
 *
 * WebGPU's types (`@webgpu/types`) extend TypeScript's DOM library and do not compile without it, so
 * declarations that named `GPUDevice` directly would force every consumer — a Node program with
 * `lib: ["ES2022"]` and `types: ["node"]` included — to add the DOM library and `@webgpu/types`
 * (or turn on `skipLibCheck`). Each alias instead looks the interface up on `globalThis`, the way
 * `@types/node` adapts to the presence of the DOM library: a program that has WebGPU's types (flowgpu
 * itself, or a consumer with `/// <reference types="@webgpu/types" />` and the DOM library) gets the
 * real `GPUDevice`, `GPUAdapter` and `GPUBuffer`; any other program gets `unknown` and compiles.
 */
type Globals = typeof globalThis;

/** WebGPU's `GPUDevice` where the program has WebGPU's types, otherwise `unknown`. */
export type WebGpuDevice = Globals extends { GPUDevice: { prototype: infer T } } ? T : unknown;
/** WebGPU's `GPUAdapter` where the program has WebGPU's types, otherwise `unknown`. */
export type WebGpuAdapter = Globals extends { GPUAdapter: { prototype: infer T } } ? T : unknown;
/** WebGPU's `GPUBuffer` where the program has WebGPU's types, otherwise `unknown`. */
export type WebGpuBuffer = Globals extends { GPUBuffer: { prototype: infer T } } ? T : unknown;
/** WebGPU's `GPUPowerPreference` (the spec's whole enum, spelled out: a type alias has no global to look up). */
export type WebGpuPowerPreference = 'low-power' | 'high-performance';
