/**
 * The CPU ceiling for matmul on a software driver: OpenBLAS sgemm through NumPy on the same machine,
 * same sizes, median of repeated runs after a warm-up. Absent when python3 or NumPy is missing.
 */
import { execFileSync } from 'node:child_process';

export interface CpuCeiling {
  library: string;
  /** size → GFLOP/s (square f32 sgemm). */
  gflops: Record<string, number>;
  threads: string;
}

const SCRIPT = `
import json, sys, time
import numpy as np
sizes = [int(s) for s in sys.argv[1].split(',')]
out = {}
for n in sizes:
    a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32)
    a @ b
    reps = max(1, int(2e9 / (2 * n ** 3)))
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps): a @ b
        ts.append((time.perf_counter() - t) / reps)
    ts.sort()
    out[str(n)] = 2 * n ** 3 / ts[len(ts) // 2] / 1e9
cfg = np.__config__.CONFIG if hasattr(np.__config__, 'CONFIG') else {}
blas = cfg.get('Build Dependencies', {}).get('blas', {}) if isinstance(cfg, dict) else {}
print(json.dumps({'gflops': out, 'library': 'numpy ' + np.__version__ + ' / ' + str(blas.get('name', 'blas')) + ' ' + str(blas.get('version', ''))}))
`;

export function measureCpuCeiling(sizes: number[]): CpuCeiling | null {
  try {
    const out = execFileSync('python3', ['-c', SCRIPT, sizes.join(',')], { encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'ignore'] });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    return { library: r.library, gflops: r.gflops, threads: process.env.OPENBLAS_NUM_THREADS ?? 'default (all cores)' };
  } catch {
    return null;
  }
}
