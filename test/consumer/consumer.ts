// A TypeScript program written the way a user of the published package writes one: it imports only
// 'flowgpu' (the Node entry: the library's namespaces plus `node`, the file helpers).
// test/package.test.ts installs the packed tarball into a fresh project outside the checkout,
// type-checks this file with tsconfig.json there (strict, nodenext, no DOM library, no
// skipLibCheck), compiles it and runs it. When the API moves, update this file: it is the
// consumer's view of the package.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { data, destroyGpu, flow, initGpu, io, nn, node, ops, optim, tensor, tidy, type Gpu, type Tensor } from 'flowgpu';

const gpu: Gpu = await initGpu();
console.log(`adapter: ${gpu.info.vendor} ${gpu.info.device || gpu.info.description}`);

const net = new nn.VelocityMLP({ dim: 2, hidden: 32, hiddenLayers: 2 }, 7);
const opt = new optim.AdamW(net, { lr: 3e-3 });
for (let step = 0; step < 5; step++) {
  const x1: Tensor = tensor(data.sampleToy('moons', 128, step), [128, 2]);
  const loss = flow.flowMatchingStep(net, x1, { scheduler: flow.condOT(), seed: 1, step, update: opt });
  if (step === 4) console.log(`loss: ${(await loss.f32())[0]}`);
  loss.dispose();
  x1.dispose();
}

const x0 = flow.randNormal([64, 2], { seed: 2, step: 0 });
const velocity = flow.timeAsTensor((x, t) => net.forward(x, t));
const result: flow.SampleResult = await flow.sample(velocity, x0, { solver: 'midpoint', steps: 4 });
const points: Float32Array = await result.x.f32();
const doubled = tidy(() => ops.add(result.x, result.x));
console.log(`samples: ${points.length / 2}, first: ${points[0]}, doubled: ${(await doubled.f32())[0]}`);

const dir = mkdtempSync(join(tmpdir(), 'flowgpu-consumer-'));
try {
  node.writeNpy(join(dir, 'samples.npy'), points, [64, 2]);

  const tensors: io.NamedTensor[] = await io.moduleTensors(net);
  const st = io.decodeSafetensors(io.encodeSafetensors(tensors, { note: 'consumer' }));
  const ckptBytes = io.encodeCheckpoint({ tensors, config: net.config, trainingState: { step: 5 } });
  writeFileSync(join(dir, 'checkpoint.safetensors'), ckptBytes);
  const fromFile = node.readCheckpoint(join(dir, 'checkpoint.safetensors'));
  const fromBytes = io.decodeCheckpoint(ckptBytes);
  console.log(`tensors: ${st.tensors.length} ${fromFile.tensors.length} ${fromBytes.tensors.length}, note: ${st.metadata.note}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

doubled.dispose();
result.x.dispose();
x0.dispose();
opt.dispose();
net.dispose();
destroyGpu();
