#!/usr/bin/env python3
"""
Independent reference trainer for flowgpu's 2-D toy (`flowgpu train toy`), in plain NumPy.

It trains the configuration of `flowgpu train toy` (src/cli/train.ts) with a constant learning rate
(run flowgpu with --warmup 0: its default is now a warm-up and cosine decay), written again from the
definitions rather than from flowgpu's code, so that both can be compared on sample quality:

  net       torch.nn.Sequential(Linear(3, H), SiLU, (layers − 1)×[Linear(H, H), SiLU], Linear(H, 2))
            applied to concat[x, t] (flowgpu's VelocityMLP, raw time input), PyTorch's default
            initialisation U(−1/√fan_in, 1/√fan_in) for weights and biases; hand-written backprop.
  path      CondOT with σ_min = 0: x_t = t·x1 + (1 − t)·x0, target u = x1 − x0, x0 ~ N(0, I),
            t ~ U(0, 1), independent coupling, a fresh data batch every step.
  loss      mean((v − u)²) over the batch and both coordinates (torch F.mse_loss).
  optimiser torch.optim.AdamW's update, betas (0.9, 0.999), eps 1e-8, weight decay 0 (flowgpu's
            toy default), constant learning rate.
  EMA       of the weights, decay d with the warm-up min(d, (1 + k)/(10 + k)) at the k-th update,
            starting from a copy of the initial weights, applied after every optimiser step; the
            samples use the EMA weights (--ema 0: the raw weights).
  sampler   midpoint, 20 steps from t = 0 to 1 (nfe 40), x ← x + h·v(x + ½h·v(x, t), t + ½h).

Randomness (initialisation, data, x0, t, sampling noise) comes from NumPy's own generator seeded
with --seed: the runs are independent of flowgpu's. The 2-D data sets are those of DESIGN.md /
src/data/toy.ts.

It writes, into --out DIR: samples.npy (float32 [N, 2]), model.safetensors (the EMA weights under
the torch names 0.weight, 0.bias, 2.weight, …, loadable by torch_train_toy.py --load and by the
torch Sequential), metrics.json; and prints the metrics JSON (same keys as flowgpu's metrics.json).

The quality metrics are a NumPy re-implementation of src/metrics/twod.ts `sampleQualityAgainst`
(sliced W2 over 128 evenly spaced directions with flowgpu's seeded offset, unbiased RBF MMD² with
bandwidths {1, ½, ¼, ⅛} × the median pairwise data distance, each next to the data-vs-data floor),
against the very data draws flowgpu uses (its HostRng, a mulberry32 generator, is re-implemented
bit for bit, as are the toy samplers): on the same samples file it gives the numbers of
`node dist/node/cli.js eval toy FILE.npy --dataset NAME` (checked: see bench/peers/README.md).

Other modes:
  --load DIR         load a flowgpu (or this script's) DIR/model.safetensors, sample from it with
                     flowgpu's own source points (flow.hostNormals(n·2, seed) of src/flow/generate.ts, seed from
                     the checkpoint's config) and the midpoint sampler, and print
                     max |x_numpy − x_flowgpu| against DIR/samples.npy: the forward pass, the weight
                     layout and the sampler agree when this is at float32 rounding level.
  --eval FILE.npy    only print the metrics of a samples file (like `flowgpu eval toy`).

Usage:
  python3 bench/peers/numpy_train_toy.py --dataset checkerboard --hidden 128 --layers 3 \
      --batch 512 --steps 2000 --seed 0 --out /tmp/cmp-np-0
  python3 bench/peers/numpy_train_toy.py --load /tmp/cmp-fg-0
  python3 bench/peers/numpy_train_toy.py --eval /tmp/cmp-fg-0/samples.npy --dataset checkerboard

Needs only NumPy (tested with NumPy 2.4 on Python 3).
"""
import argparse
import json
import math
import os
import re
import struct
import sys
import time

# One BLAS thread: the matrices are small, and on a shared machine threaded BLAS spin-waits (measured:
# 4 steps/s with the default threads vs ~15 with one on the 2-core development machine under load).
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402  (after the thread settings)

TOY_NAMES = ("checkerboard", "moons", "8gaussians", "2spirals", "circles")
EIGHT_GAUSSIANS_STD = 0.1 ** 0.25

# ----------------------------------------------------------------------------------------------
# flowgpu's HostRng (src/nn/module.ts): mulberry32 for U[0, 1), Box–Muller for N(0, 1), bit for bit.
# The state only advances by a constant, so the k-th draw is a pure function of (seed, k): vectorised.

M32 = 0xFFFFFFFF


def _imul(a, b):
    return (a * b) & M32  # uint64 arrays holding uint32 values: the product fits, keep the low word


def host_uniforms(seed, count, start=0):
    """Draws start … start + count − 1 of `new HostRng(seed).uniform()`, as float64."""
    s0 = np.uint64(((seed & M32) ^ 0x9E3779B9) & M32)
    k = np.arange(start + 1, start + count + 1, dtype=np.uint64)
    t = (s0 + k * np.uint64(0x6D2B79F5)) & np.uint64(M32)
    t = _imul(t ^ (t >> np.uint64(15)), t | np.uint64(1))
    t = t ^ ((t + _imul(t ^ (t >> np.uint64(7)), t | np.uint64(61))) & np.uint64(M32))
    t = (t ^ (t >> np.uint64(14))) & np.uint64(M32)
    return t.astype(np.float64) / 4294967296.0


def box_muller(u1, u2):
    """HostRng.normal(): u = 1 − uniform(), v = uniform(), √(−2 ln u)·cos(2πv)."""
    return np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)


def normal_source(n, seed, dim=2):
    """src/flow/generate.ts hostNormals(2n, seed): the N(0, I) points flowgpu samples from (float32)."""
    u = host_uniforms((seed ^ 0x2545F491) & M32, 2 * n * dim).reshape(n * dim, 2)
    return box_muller(u[:, 0], u[:, 1]).astype(np.float32).reshape(n, dim)


# ----------------------------------------------------------------------------------------------
# The five toy data sets (DESIGN.md), written over a matrix of per-point uniforms U [n, K] in the
# order flowgpu's samplers draw them (a normal takes two consecutive columns), so the same code
# reproduces flowgpu's points from HostRng uniforms or draws fresh ones from a NumPy generator.

UNIFORMS_PER_POINT = {"checkerboard": 3, "moons": 6, "8gaussians": 5, "2spirals": 8, "circles": 6}


def toy_from_uniforms(name, U):
    n = U.shape[0]
    out = np.empty((n, 2), dtype=np.float64)
    if name == "checkerboard":
        u = 4.0 * U[:, 0] - 2.0
        b = (U[:, 1] < 0.5).astype(np.float64)
        v = U[:, 2] - 2.0 * b
        v = v + np.mod(np.floor(u), 2.0)  # floor(u) mod 2 with Python's sign convention: 0 or 1
        out[:, 0], out[:, 1] = u / 0.45, v / 0.45
    elif name == "moons":
        a = np.pi * U[:, 0]
        outer = U[:, 1] < 0.5
        mx = np.where(outer, np.cos(a), 1.0 - np.cos(a))
        my = np.where(outer, np.sin(a), 0.5 - np.sin(a))
        out[:, 0] = 3.0 * (mx + 0.05 * box_muller(U[:, 2], U[:, 3]) - 0.5)
        out[:, 1] = 3.0 * (my + 0.05 * box_muller(U[:, 4], U[:, 5]) - 0.25)
    elif name == "8gaussians":
        k = np.minimum(7.0, np.floor(8.0 * U[:, 0]))
        a = k * np.pi / 4.0
        out[:, 0] = 5.0 * np.cos(a) + EIGHT_GAUSSIANS_STD * box_muller(U[:, 1], U[:, 2])
        out[:, 1] = 5.0 * np.sin(a) + EIGHT_GAUSSIANS_STD * box_muller(U[:, 3], U[:, 4])
    elif name == "2spirals":
        r = np.sqrt(U[:, 0]) * 3.0 * np.pi
        px = -np.cos(r) * r + 0.5 * U[:, 1]
        py = np.sin(r) * r + 0.5 * U[:, 2]
        sign = np.where(U[:, 3] < 0.5, -1.0, 1.0)
        out[:, 0] = sign * px / 3.0 + 0.1 * box_muller(U[:, 4], U[:, 5])
        out[:, 1] = sign * py / 3.0 + 0.1 * box_muller(U[:, 6], U[:, 7])
    elif name == "circles":
        a = 2.0 * np.pi * U[:, 0]
        radius = np.where(U[:, 1] < 0.5, 1.0, 0.5)
        out[:, 0] = 3.0 * (radius * np.cos(a) + 0.08 * box_muller(U[:, 2], U[:, 3]))
        out[:, 1] = 3.0 * (radius * np.sin(a) + 0.08 * box_muller(U[:, 4], U[:, 5]))
    else:
        raise ValueError(f"unknown data set '{name}': choose one of {', '.join(TOY_NAMES)}")
    return out.astype(np.float32)  # flowgpu stores the points in a Float32Array


def toy_flowgpu(name, n, seed):
    """flowgpu's sampleToy(name, n, seed), bit for bit (float32 [n, 2])."""
    k = UNIFORMS_PER_POINT[name]
    return toy_from_uniforms(name, host_uniforms(seed, n * k).reshape(n, k))


def toy_numpy(name, n, rng):
    """The same distribution drawn from a NumPy generator (independent of flowgpu's streams)."""
    return toy_from_uniforms(name, rng.random((n, UNIFORMS_PER_POINT[name])))


# ----------------------------------------------------------------------------------------------
# Quality metrics: src/metrics/twod.ts, re-implemented in float64.

def slice_directions_2d(count, seed=0):
    off = host_uniforms(seed, 1)[0]
    a = (np.arange(count) + off) / count * np.pi
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def sliced_w2(a, b, projections=128, seed=0):
    d = slice_directions_2d(projections, seed)
    pa = np.sort(np.asarray(a, np.float64) @ d.T, axis=0)
    pb = np.sort(np.asarray(b, np.float64) @ d.T, axis=0)
    return float(np.sqrt(np.mean(np.mean((pa - pb) ** 2, axis=0))))


def _sqdist(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def median_distance(x, max_points=500):
    x = np.asarray(x, np.float64)
    n = x.shape[0]
    k = min(n, max_points)
    idx = (np.arange(k) * n) // k
    p = x[idx]
    iu = np.triu_indices(k, 1)
    return float(np.median(np.sqrt(_sqdist(p, p)[iu])))


def default_bandwidths(reference):
    med = median_distance(reference)
    h = med if med > 0 else 1.0
    return [h, h / 2, h / 4, h / 8]


def _kernel_mean(d2, hs):
    return sum(np.exp(-d2 / (2.0 * h * h)) for h in hs) / len(hs)


def mmd_rbf(a, b, bandwidths):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    n, m = a.shape[0], b.shape[0]
    kxx = _kernel_mean(_sqdist(a, a), bandwidths)
    kyy = _kernel_mean(_sqdist(b, b), bandwidths)
    kxy = _kernel_mean(_sqdist(a, b), bandwidths)
    sxx = (kxx.sum() - np.trace(kxx)) / 2.0  # Σ over i < j
    syy = (kyy.sum() - np.trace(kyy)) / 2.0
    return float(2 * sxx / (n * (n - 1)) + 2 * syy / (m * (m - 1)) - 2 * kxy.sum() / (n * m))


def quality_report(samples, dataset, n=2000, data_seed=1_000_003):
    """sampleQualityAgainst(samples, (n, s) => sampleToy(dataset, n, s), 2, { n }) of twod.ts."""
    samples = np.asarray(samples, np.float32).reshape(-1, 2)
    n = min(n, samples.shape[0])
    d1 = toy_flowgpu(dataset, n, data_seed).astype(np.float64)
    d2 = toy_flowgpu(dataset, n, data_seed + 1).astype(np.float64)
    s = samples[:n].astype(np.float64)
    bw = default_bandwidths(d1)
    non_finite = int((~np.isfinite(s)).any(axis=1).sum())
    rep = {"n": n, "sw2": math.inf, "sw2Floor": sliced_w2(d2, d1), "mmd2": math.inf,
           "mmd2Floor": mmd_rbf(d2, d1, bw), "bandwidths": bw, "nonFinite": non_finite}
    if not non_finite:
        rep["sw2"] = sliced_w2(s, d1)
        rep["mmd2"] = mmd_rbf(s, d1, bw)
    return rep


def _fmt(v):
    if not math.isfinite(v):
        return str(v)
    if abs(v) >= 1e-3 or v == 0:
        return f"{v:.4f}"
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{v:.2e}")  # JS toExponential: 2.10e-4


def format_quality(r):
    return (f"sliced W2 {_fmt(r['sw2'])} (data vs data {_fmt(r['sw2Floor'])}) · MMD² {_fmt(r['mmd2'])} "
            f"(data vs data {_fmt(r['mmd2Floor'])}) · {r['n']} points")


# ----------------------------------------------------------------------------------------------
# safetensors (the format's whole spec: u64 LE header length, JSON header, raw little-endian data)

_ST_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32}


def read_safetensors(path):
    """Returns ({name: ndarray}, metadata dict of strings)."""
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + hlen
    tensors = {}
    for name, info in header.items():
        lo, hi = info["data_offsets"]
        dt = np.dtype(_ST_DTYPES[info["dtype"]]).newbyteorder("<")
        tensors[name] = np.frombuffer(raw[base + lo:base + hi], dtype=dt).reshape(info["shape"]).copy()
    return tensors, meta


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    inv = {np.dtype(v): k for k, v in _ST_DTYPES.items()}
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        b = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": inv[arr.dtype], "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


def mlp_shape_from_state(sd):
    """(hidden, layers) of a Sequential state dict 0.weight, 0.bias, 2.weight, …; checks it."""
    idx = sorted({int(k.split(".")[0]) for k in sd})
    if idx != list(range(0, 2 * len(idx), 2)) or len(idx) < 2:
        raise ValueError(f"not a Linear/SiLU Sequential: keys {sorted(sd)}")
    hidden, din = sd["0.weight"].shape
    if din != 3 or sd[f"{idx[-1]}.weight"].shape[0] != 2:
        raise ValueError(f"expected Linear(3, H) … Linear(H, 2), got 0.weight {sd['0.weight'].shape}")
    return int(hidden), len(idx) - 1


# ----------------------------------------------------------------------------------------------
# The MLP with manual backprop.

def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|


class MLP:
    """Linear(3, H), SiLU, (layers − 1)×[Linear(H, H), SiLU], Linear(H, 2) on concat[x, t]."""

    def __init__(self, hidden, layers, rng=None, dtype=np.float32):
        self.dtype = dtype
        widths = [3] + [hidden] * layers + [2]
        self.W, self.b = [], []
        for fin, fout in zip(widths[:-1], widths[1:]):
            bound = 1.0 / math.sqrt(fin)  # torch.nn.Linear's default init for weight and bias
            if rng is None:
                self.W.append(np.zeros((fout, fin), dtype))
                self.b.append(np.zeros(fout, dtype))
            else:
                self.W.append(rng.uniform(-bound, bound, (fout, fin)).astype(dtype))
                self.b.append(rng.uniform(-bound, bound, fout).astype(dtype))

    def params(self):
        return [p for wb in zip(self.W, self.b) for p in wb]  # 0.weight, 0.bias, 2.weight, …

    def state_dict(self, params=None):
        ps = self.params() if params is None else params
        return {f"{2 * (i // 2)}.{'weight' if i % 2 == 0 else 'bias'}": p for i, p in enumerate(ps)}

    def load_state_dict(self, sd):
        names = list(self.state_dict())
        if sorted(names) != sorted(sd):
            raise ValueError(f"state dict keys differ: expected {names}, got {sorted(sd)}")
        for mine, name in zip(self.params(), names):
            if mine.shape != sd[name].shape:
                raise ValueError(f"{name}: expected {mine.shape}, got {sd[name].shape}")
            mine[...] = sd[name]

    def forward(self, x, t, params=None, cache=False):
        ps = self.params() if params is None else params
        Ws, bs = ps[0::2], ps[1::2]
        h = np.concatenate([x, np.broadcast_to(np.asarray(t, self.dtype).reshape(-1, 1), (x.shape[0], 1))], 1)
        h = h.astype(self.dtype, copy=False)
        acts = [h]
        zs = []
        for i, (W, b) in enumerate(zip(Ws, bs)):
            z = h @ W.T + b
            if i < len(Ws) - 1:
                zs.append(z)
                h = z * sigmoid(z)
                acts.append(h)
            else:
                h = z
        return (h, (acts, zs)) if cache else h

    def backward(self, dout, cache):
        """Gradients of the parameters (same order as params()) for d loss / d output = dout."""
        acts, zs = cache
        grads = [None] * (2 * len(self.W))
        d = dout
        for i in range(len(self.W) - 1, -1, -1):
            grads[2 * i] = d.T @ acts[i]
            grads[2 * i + 1] = d.sum(0)
            if i > 0:
                d = d @ self.W[i]
                s = sigmoid(zs[i - 1])
                d = d * (s * (1.0 + zs[i - 1] * (1.0 - s)))  # SiLU'(z) = σ(z)(1 + z(1 − σ(z)))
        return grads


class AdamW:
    """torch.optim.AdamW's update (single-tensor path, no amsgrad), in the parameters' dtype."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params, self.lr, self.b1, self.b2, self.eps, self.wd = params, lr, betas[0], betas[1], eps, weight_decay
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        bc1 = 1 - self.b1 ** self.t
        bc2 = 1 - self.b2 ** self.t
        step_size = self.lr / bc1
        bc2_sqrt = math.sqrt(bc2)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            p *= 1 - self.lr * self.wd
            m += (1 - self.b1) * (g - m)  # m.lerp_(g, 1 − β1)
            v *= self.b2
            v += (1 - self.b2) * g * g
            p -= step_size * m / (np.sqrt(v) / bc2_sqrt + self.eps)


class EMA:
    """ema ← d_k·ema + (1 − d_k)·θ, d_k = min(decay, (1 + k)/(10 + k)), from a copy of θ."""

    def __init__(self, params, decay):
        self.decay = decay
        self.shadow = [p.copy() for p in params]
        self.updates = 0

    def update(self, params):
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for s, p in zip(self.shadow, params):
            s *= d
            s += (1 - d) * p


def sample_midpoint(model, x0, steps=20, params=None):
    """x ← x + h·v(x + ½h·v(x, t), t + ½h), t = i·h, from t = 0 to 1 (flowgpu's integrateFixed)."""
    x = x0.astype(model.dtype).copy()
    h = 1.0 / steps
    for i in range(steps):
        t = i * h
        k1 = model.forward(x, np.float32(t), params)
        k2 = model.forward(x + np.float32(h / 2) * k1, np.float32(t + h / 2), params)
        x = x + np.float32(h) * k2
    return x


# ----------------------------------------------------------------------------------------------

def train(a):
    rng = np.random.default_rng(a.seed)
    dtype = np.float64 if a.dtype == "float64" else np.float32
    model = MLP(a.hidden, a.layers, rng, dtype)
    params = model.params()
    opt = AdamW(params, lr=a.lr, weight_decay=a.weight_decay)
    ema = EMA(params, a.ema) if a.ema > 0 else None
    nparams = sum(p.size for p in params)
    print(f"numpy train toy: {a.dataset}, {nparams} parameters, batch {a.batch}, {a.steps} steps ({a.dtype})", flush=True)
    losses, window = [], []
    t_start = time.time()
    for s in range(a.steps):
        x1 = toy_numpy(a.dataset, a.batch, rng).astype(dtype)
        x0 = rng.standard_normal((a.batch, 2)).astype(dtype)
        t = rng.random(a.batch).astype(dtype)
        xt = t[:, None] * x1 + (1 - t[:, None]) * x0
        ut = x1 - x0
        v, cache = model.forward(xt, t, cache=True)
        r = v - ut
        window.append(float(np.mean(r.astype(np.float64) ** 2)))
        grads = model.backward((2.0 / r.size) * r, cache)
        opt.step(grads)
        if ema:
            ema.update(params)
        if (s + 1) % a.log_every == 0 or s + 1 == a.steps:
            losses.append(float(np.mean(window)))
            window = []
            if (s + 1) % (a.log_every * 10) == 0 or s + 1 == a.steps:
                rate = (s + 1) / (time.time() - t_start)
                print(f"step {s + 1}/{a.steps}  loss {losses[-1]:.4f}  {rate:.1f} steps/s", flush=True)
    train_seconds = time.time() - t_start
    w = ema.shadow if ema else params
    x0 = rng.standard_normal((a.samples, 2)).astype(np.float32)
    x = sample_midpoint(model, x0, steps=a.nfe // 2, params=w).astype(np.float32)
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "samples.npy"), x)
    cfg = {"kind": "toy", "dataset": a.dataset, "steps": a.steps, "batch": a.batch, "lr": a.lr,
           "weightDecay": a.weight_decay, "path": "condot", "sigmaMin": 0, "timeSampler": "uniform",
           "coupling": "independent", "ema": a.ema, "seed": a.seed, "trainer": "bench/peers/numpy_train_toy.py",
           "model": {"kind": "mlp", "dim": 2, "outDim": 2, "hidden": a.hidden, "hiddenLayers": a.layers,
                     "timeEmbedding": "raw", "timeDim": 1, "condDim": 0, "activation": "silu"}}
    write_safetensors(os.path.join(a.out, "model.safetensors"),
                      {k: v.astype(np.float32) for k, v in model.state_dict(w).items()},
                      {"format": "pt", "config": json.dumps(cfg), "training_state": json.dumps({"step": a.steps})})
    q = quality_report(x, a.dataset)
    metrics = {"dataset": a.dataset, "steps": a.steps, "parameters": nparams, "finalLoss": losses[-1],
               "trainSeconds": train_seconds, "stepsPerSecond": a.steps / train_seconds,
               "adapter": f"numpy {np.__version__} {a.dtype} (CPU)",
               "sampler": {"solver": "midpoint", "nfe": 2 * (a.nfe // 2), "n": a.samples}, **q}
    with open(os.path.join(a.out, "metrics.json"), "w") as f:
        f.write(json.dumps(metrics, indent=2) + "\n")
    print(format_quality(q))
    print(json.dumps(metrics, indent=2))
    print(f"wrote {a.out}/{{samples.npy, model.safetensors, metrics.json}}")


def load_and_sample(a):
    sd, meta = read_safetensors(os.path.join(a.load, "model.safetensors"))
    cfg = json.loads(meta["config"]) if "config" in meta else {}
    hidden, layers = mlp_shape_from_state(sd)
    model = MLP(hidden, layers, None, np.float32)
    model.load_state_dict(sd)  # strict: same names and shapes
    seed = int(cfg.get("seed", a.seed))
    ref_path = os.path.join(a.load, "samples.npy")
    # only flowgpu's samples.npy were drawn from normalSource(n, seed); the peers' own use their own noise
    from_flowgpu = "trainer" not in cfg
    ref = np.load(ref_path) if from_flowgpu and os.path.exists(ref_path) else None
    if not from_flowgpu:
        print(f"{a.load} was written by {cfg['trainer']} (own source noise): no point-by-point comparison")
    n = ref.shape[0] if ref is not None else a.samples
    x0 = normal_source(n, seed)
    x = sample_midpoint(model, x0, steps=a.nfe // 2).astype(np.float32)
    print(f"loaded {a.load}/model.safetensors: {hidden}×{layers} MLP, seed {seed}; "
          f"sampled {n} points from flowgpu's source points (midpoint, nfe {2 * (a.nfe // 2)})")
    if ref is not None:
        diff = np.abs(x.astype(np.float64) - ref.astype(np.float64))
        print(f"max |x_numpy − x_flowgpu| = {diff.max():.3e}  (mean {diff.mean():.3e}, "
              f"max |x| {np.abs(ref).max():.3f}) against {ref_path}")
    dataset = cfg.get("dataset", a.dataset)
    q = quality_report(x, dataset)
    print(format_quality(q))
    print(json.dumps(q))
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        np.save(os.path.join(a.out, "samples.npy"), x)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="checkerboard", choices=TOY_NAMES)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay (0 = sample with the raw weights)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--samples", type=int, default=8192)
    p.add_argument("--nfe", type=int, default=40, help="midpoint: nfe/2 steps")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--out", default=None)
    p.add_argument("--load", metavar="DIR", help="sample from DIR/model.safetensors, compare with DIR/samples.npy")
    p.add_argument("--eval", metavar="FILE", help="print the metrics of a samples .npy file")
    a = p.parse_args(argv)
    if a.eval:
        q = quality_report(np.load(a.eval), a.dataset)
        print(format_quality(q))
        print(json.dumps(q))
    elif a.load:
        load_and_sample(a)
    else:
        a.out = a.out or os.path.join("runs", f"toy-{a.dataset}-numpy")
        train(a)


if __name__ == "__main__":
    sys.exit(main())
