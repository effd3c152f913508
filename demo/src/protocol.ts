/** Messages between the playground page and its training worker (worker.ts). */

export type SolverChoice = 'euler' | 'midpoint' | 'heun' | 'rk4' | 'dopri5' | 'sde';

/** Everything that defines a playground run (a change of any of these resets the run). */
export interface RunConfig {
  /** A toy dataset name, or 'drawn' (the points in `drawn`). */
  target: string;
  /** 'gaussian' (N(0, I)) or a toy dataset name: a data-to-data flow. */
  source: string;
  drawn: number[];
  path: 'condot' | 'cosine' | 'vp';
  sigmaMin: number;
  timeSampler: 'uniform' | 'logit-normal';
  coupling: 'independent' | 'sinkhorn' | 'ot';
  hidden: number;
  layers: number;
  batch: number;
  lr: number;
  steps: number;
  seed: number;
}

/** How the views are drawn (a change redraws, it does not reset). */
export interface ViewConfig {
  solver: SolverChoice;
  steps: number;
  fieldT: number;
  pathT: number;
}

export type ToWorker =
  | { type: 'reset'; run: RunConfig; view: ViewConfig; checkpoint?: Uint8Array }
  | { type: 'start' }
  | { type: 'pause' }
  | { type: 'view'; view: ViewConfig }
  | { type: 'reflow'; pairs: number; steps: number }
  | { type: 'export' }
  | { type: 'import'; bytes: Uint8Array; name: string }
  | { type: 'lose-device' };

/** Sample quality against fresh data, computed in the worker with flowgpu's metrics. */
export interface Quality {
  sw2: number;
  sw2Floor: number;
  mmd2: number;
  mmd2Floor: number;
  n: number;
}

export type FromWorker =
  | { type: 'ready'; adapter: string }
  | { type: 'progress'; step: number; steps: number; loss: number; stepsPerSecond: number; running: boolean }
  | {
      type: 'views';
      step: number;
      data: Float32Array;
      source: Float32Array;
      samples: Float32Array;
      nfe: number;
      quality: Quality;
      trajectories: Float32Array[];
      field: { grid: Float32Array; v: Float32Array; t: number };
      xt: Float32Array;
      ms: number;
    }
  | { type: 'reflow-progress'; phase: string; fraction: number }
  | { type: 'reflow'; before: Float32Array; after: Float32Array; beforeQ: Quality; afterQ: Quality; pairs: number; steps: number }
  | { type: 'exported'; bytes: Uint8Array }
  | { type: 'imported'; run: Partial<RunConfig>; step: number }
  | { type: 'checkpoint'; step: number; bytes: Uint8Array }
  | { type: 'error'; message: string; lost: boolean };
