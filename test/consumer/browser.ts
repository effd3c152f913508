// A browser app, the consumer's other side: test/package.test.ts type-checks it with
// tsconfig.browser.json (bundler resolution, the DOM library and WebGPU's types, no @types/node, no
// skipLibCheck) and bundles it with esbuild for the browser. With WebGPU's types in the program,
// flowgpu's GPU objects are typed as WebGPU's (GPUDevice, GPUBuffer), not `unknown`.
import { destroyGpu, initGpu, tensor, type Gpu } from 'flowgpu/browser';
import { data } from 'flowgpu';

const gpu: Gpu = await initGpu({ powerPreference: 'low-power', wantFeatures: ['shader-f16'] });
const device: GPUDevice = gpu.device;
const x = tensor(data.sampleToy('moons', 8, 1), [8, 2]);
const buffer: GPUBuffer = x.pooled.gpu;
document.body.textContent = `${device.label} ${buffer.size} ${(await x.f32()).join(' ')}`;
x.dispose();
destroyGpu();
