/**
 * Reverse-mode autodiff. There is no global tape object: each op's output carries a GradNode
 * (its inputs and a closure that maps the output gradient to input gradients), so the tape is the
 * graph reachable from the loss. `backward(loss)` orders it topologically and runs the closures in
 * reverse, under no-grad. Gradients of a tensor used several times are summed. Intermediate
 * gradients are released as soon as their node has run; leaf gradients accumulate into `.grad`
 * (in place when `.grad` already exists, e.g. a view into an optimiser's flat gradient buffer).
 */
import { FlowGpuError } from '../gpu/errors.js';
import { axpby, binaryRaw, unaryRaw } from '../tensor/primitives.js';
import { keep, ones, type GradNode, type Tensor } from '../tensor/tensor.js';
import type { DiffOp } from './registry.js';

let gradEnabled = true;

/** Whether ops record gradients now (false inside `noGrad`). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording gradients (sampling, evaluation, optimiser updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs `fn` recording gradients even inside `noGrad` (e.g. a divergence by VJPs while sampling). */
export function enableGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Marks `out` as computed from `inputs` by `op` (a name from registry.ts), with its backward rule:
 * the output gradient → one gradient per input (null where the input needs none).
 */
export function record(out: Tensor, op: DiffOp, inputs: readonly Tensor[], backward: GradNode['backward']): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}

/** A leaf that gradients flow into. */
export function param<T extends Tensor>(t: T, name?: string): T {
  t.requiresGrad = true;
  if (name) t.name = name;
  return t;
}

/** True when another live tensor views the same storage. */
function sharesStorage(t: Tensor): boolean {
  // Storage is internal to tensor.ts; its reference count is the one reliable witness of a view.
  const s = (t as unknown as { storage: { refs: number } | null }).storage;
  return s !== null && s.refs > 1;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // iterative DFS (deep graphs such as long ODE unrolls would overflow recursion)
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    if (i === 0) {
      if (seen.has(t)) {
        stack.pop();
        continue;
      }
      seen.add(t);
    }
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1] = i + 1;
      const c = inputs[i];
      if (c.requiresGrad && !seen.has(c)) stack.push([c, 0]);
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

/**
 * Backpropagates from `root` (a scalar unless `grad` is given) into every leaf that requires grad.
 */
export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) throw new FlowGpuError('backward(): the tensor does not depend on any parameter that requires grad');
  if (!grad && root.size !== 1) {
    throw new FlowGpuError(`backward(): the root has shape [${root.shape.join(', ')}]; pass a gradient or reduce it to a scalar first`);
  }
  const order = topoOrder(root);
  // dispose() drops a tensor's node, so a released intermediate would silently look like a leaf
  // and cut the gradient off: refuse instead.
  let gone: Tensor | undefined;
  for (const t of order) {
    gone = t.disposed ? t : t.node?.inputs.find((i) => i.disposed);
    if (gone) break;
  }
  if (gone) {
    throw new FlowGpuError(
      `backward(): a tensor [${gone.shape.join(', ')}]${gone.name ? ` '${gone.name}'` : ''} on the path to the root was ` +
        'released (by tidy() or dispose()) before backward ran; call backward() inside the scope that ran the forward',
    );
  }
  const slots = new Map<Tensor, Tensor>();
  const refs = new Map<Tensor, number>();
  const hold = (g: Tensor) => refs.set(g, (refs.get(g) ?? 0) + 1);
  const drop = (g: Tensor) => {
    const r = (refs.get(g) ?? 0) - 1;
    if (r <= 0) {
      refs.delete(g);
      g.dispose();
    } else refs.set(g, r);
  };
  const seed = grad ?? ones(root.shape);
  if (grad && (grad.size !== root.size)) throw new FlowGpuError(`backward(): gradient [${grad.shape.join(', ')}] does not match root [${root.shape.join(', ')}]`);
  slots.set(root, seed);
  hold(seed);
  if (grad) hold(grad); // never dispose the caller's tensor
  noGrad(() => {
    for (const t of order) {
      const g = slots.get(t);
      if (!g) continue;
      slots.delete(t);
      if (!t.node) {
        // leaf: accumulate into .grad
        if (t.grad) {
          axpby(t.grad, g, 1, 1);
          drop(g);
        } else if ((refs.get(g) ?? 0) > 1 || g === grad || sharesStorage(g)) {
          // a copy when anything else can see g: another pending gradient, the caller's tensor, or
          // (through a view, e.g. reshape's gradient) another leaf's .grad, which the in-place
          // accumulation of a later backward() would otherwise update too
          t.grad = keep(unaryRaw('affine', g, 1, 0));
          drop(g);
        } else {
          refs.delete(g);
          t.grad = keep(g);
        }
        continue;
      }
      const gs = t.node.backward(g);
      const unused = new Set<Tensor>();
      t.node.inputs.forEach((inp, i) => {
        const gi = gs[i];
        if (!gi) return;
        if (!inp.requiresGrad) {
          unused.add(gi);
          return;
        }
        if (gi.shape.length !== inp.shape.length || gi.shape.some((d, k) => d !== inp.shape[k])) {
          throw new FlowGpuError(
            `internal: backward of '${t.node!.op}' gave a gradient [${gi.shape.join(', ')}] for an input [${inp.shape.join(', ')}]`,
          );
        }
        const prev = slots.get(inp);
        if (!prev) {
          slots.set(inp, gi);
          hold(gi);
        } else {
          const sum = binaryRaw('add', prev, gi);
          drop(prev);
          unused.add(gi);
          slots.set(inp, sum);
          hold(sum);
        }
      });
      for (const u of unused) if (!refs.has(u) && u !== g) u.dispose();
      drop(g);
    }
  });
}
