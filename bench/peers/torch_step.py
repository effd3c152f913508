#!/usr/bin/env python3
"""
PyTorch peer of flowgpu's end-to-end benches (bench/e2e.ts): the same training step and the same
sampling runs, timed the same way (warm-up, then the median of repeated samples of consecutive
steps, synchronising once per sample). Eager mode, and torch.compile where it is available.
Prints one JSON object; bench/README.md explains how its numbers are compared.

NOT RUN ON THE DEVELOPMENT MACHINE: PyTorch is not installed there (no PyPI access). Run it where
Python and PyTorch exist, on the machine whose adapter flowgpu's bench measured:

    python3 bench/peers/torch_step.py [--device cuda|cpu] [--quick] [--no-compile] [--threads N]

The work, identical to flowgpu's (and to the tfjs peer's):
  train-A / train-B  MLP on torch.cat([x, t[:, None]], 1): Linear(3, H), SiLU, (L − 1)×[Linear(H, H),
                     SiLU], Linear(H, 2); A: H = 512, L = 4, batch 4096; B: H = 128, L = 3, batch 1024.
                     x1 from a pool of 4 host batches of the checkerboard (uploaded each step), x0 ~
                     N(0, I) and t ~ U(0, 1) drawn on the device, x_t = t·x1 + (1 − t)·x0,
                     u = x1 − x0, loss = F.mse_loss(v, u), backward, torch.optim.AdamW(lr 1e-3,
                     betas (0.9, 0.999), eps 1e-8, weight_decay 0), EMA 0.999 of every parameter.
                     No .item() inside the step.
  sample-euler       10 000 points, 100 Euler steps x ← x + h·v(x, t), model B (random weights).
  sample-midpoint    10 000 points, 50 midpoint steps.
"""
import argparse
import json
import statistics
import time

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    print(json.dumps({"error": "PyTorch is not installed"}))
    raise SystemExit(0)

TOY = {"A": dict(hidden=512, layers=4, batch=4096), "B": dict(hidden=128, layers=3, batch=1024)}


def checkerboard(n, rng):
    # facebookresearch/flow_matching's 2-D example (DESIGN.md)
    x1 = rng.uniform(-2, 2, n)
    x2 = rng.uniform(0, 1, n) - rng.integers(0, 2, n) * 2.0
    x2 += np.floor(x1) % 2
    return (np.stack([x1, x2], 1) / 0.45).astype(np.float32)


def mlp(hidden, layers):
    mods = [nn.Linear(3, hidden), nn.SiLU()]
    for _ in range(layers - 1):
        mods += [nn.Linear(hidden, hidden), nn.SiLU()]
    mods.append(nn.Linear(hidden, 2))
    return nn.Sequential(*mods)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(step, device, quick, target_s):
    """Warm-up, then samples of consecutive steps; returns per-step seconds (median, min, max)."""
    for i in range(1 if quick else 2):
        step(i)
    sync(device)
    t0 = time.perf_counter()
    step(2)
    sync(device)
    one = time.perf_counter() - t0
    reps = max(1, min(200, round(target_s / max(one, 1e-6))))
    xs = []
    for s in range(3 if quick else 7):
        t0 = time.perf_counter()
        for r in range(reps):
            step(3 + s * reps + r)
        sync(device)
        xs.append((time.perf_counter() - t0) / reps)
    return dict(median_ms=1e3 * statistics.median(xs), min_ms=1e3 * min(xs), max_ms=1e3 * max(xs), reps=reps, samples=len(xs))


def train_bench(key, device, quick, compile_model):
    c = TOY[key]
    torch.manual_seed(1)
    model = mlp(c["hidden"], c["layers"]).to(device)
    ema = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    rng = np.random.default_rng(1)
    pool = [torch.from_numpy(checkerboard(c["batch"], rng)) for _ in range(4)]
    if device.type == "cuda":
        pool = [p.pin_memory() for p in pool]
    fwd = torch.compile(model) if compile_model else model

    def step(i):
        x1 = pool[i % 4].to(device, non_blocking=True)
        x0 = torch.randn_like(x1)
        t = torch.rand(x1.shape[0], device=device)
        xt = t[:, None] * x1 + (1 - t[:, None]) * x0
        u = x1 - x0
        v = fwd(torch.cat([xt, t[:, None]], 1))
        loss = F.mse_loss(v, u)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, list(model.parameters()), 1 - 0.999)

    return time_steps(step, device, quick, 0.3 if quick else 1.0)


def sample_bench(solver, device, quick, compile_model):
    torch.manual_seed(1)
    model = mlp(128, 3).to(device)
    fwd = torch.compile(model) if compile_model else model
    steps = (100 if solver == "euler" else 50) // (10 if quick else 1)
    h = 1.0 / steps
    n = 10000

    @torch.no_grad()
    def run(_i):
        x = torch.randn(n, 2, device=device)
        for i in range(steps):
            t = torch.full((n, 1), i * h, device=device)
            if solver == "euler":
                x = x + h * fwd(torch.cat([x, t], 1))
            else:
                k1 = fwd(torch.cat([x, t], 1))
                xm = x + 0.5 * h * k1
                k2 = fwd(torch.cat([xm, t + 0.5 * h], 1))
                x = x + h * k2
        return x

    r = time_steps(run, device, quick, 0.3 if quick else 1.0)
    r["steps"] = steps
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    modes = ["eager"]
    if not a.no_compile and hasattr(torch, "compile"):
        modes.append("compile")
    out = {
        "engine": "pytorch",
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "quick": a.quick,
        "results": {},
    }
    for mode in modes:
        for key in ("A", "B"):
            name = f"e2e/train-{key}@torch-{mode}"
            try:
                out["results"][name] = train_bench(key, device, a.quick, mode == "compile")
            except Exception as e:  # torch.compile may be unavailable (no compiler, old Python)
                out["results"][name] = {"error": f"{type(e).__name__}: {e}"[:300]}
        for solver in ("euler", "midpoint"):
            name = f"e2e/sample-{solver}@torch-{mode}"
            try:
                out["results"][name] = sample_bench(solver, device, a.quick, mode == "compile")
            except Exception as e:
                out["results"][name] = {"error": f"{type(e).__name__}: {e}"[:300]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
