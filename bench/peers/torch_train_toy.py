#!/usr/bin/env python3
"""
Plain PyTorch reference trainer for flowgpu's 2-D toy (`flowgpu train toy`): the same
configuration, written the way a PyTorch user would, to check that flowgpu reaches the same
sample quality (same architecture, steps, batch, lr).

NOT RUN ON THE DEVELOPMENT MACHINE: PyTorch is not installed there (no PyPI access). The script is
kept deliberately short and literal so that it is correct by reading; everything in it that is not
PyTorch (the metrics, flowgpu's source points, safetensors I/O) is imported from the sibling
numpy_train_toy.py, which was run and checked against flowgpu there (bench/peers/README.md), and
numpy_train_toy.py trains the identical recipe in NumPy. Needs torch ≥ 1.13 and NumPy.

The recipe (`flowgpu train toy` with --warmup 0, src/cli/train.ts):
  net       nn.Sequential(Linear(3, H), SiLU(), (layers − 1)×[Linear(H, H), SiLU()], Linear(H, 2))
            on torch.cat([x, t[:, None]], 1), PyTorch's default initialisation. The state-dict
            names 0.weight, 0.bias, 2.weight, … are flowgpu's: its model.safetensors loads with
            load_state_dict(strict=True).
  path      CondOT, σ_min = 0: x_t = t·x1 + (1 − t)·x0, u_t = x1 − x0, x0 ~ N(0, I), t ~ U(0, 1),
            independent coupling, a fresh data batch every step.
  loss      F.mse_loss(v, u) (mean over batch and coordinates).
  optimiser torch.optim.AdamW(lr, betas (0.9, 0.999), eps 1e-8, weight_decay 0 — flowgpu's toy
            default), constant learning rate, no gradient clipping.
  EMA       decay d with warm-up min(d, (1 + k)/(10 + k)) at update k = 1, 2, …, from a copy of the
            initial weights, after every optimiser step; samples use the EMA weights (--ema 0: raw).
  sampler   midpoint, nfe/2 = 20 steps from t = 0 to 1: x ← x + h·v(x + ½h·v(x, t), t + ½h).
  data      the five toys of DESIGN.md / src/data/toy.ts (checkerboard exactly as
            facebookresearch/flow_matching's example), drawn with torch's generator.

Writes into --out DIR: samples.npy (float32 [N, 2]), model.safetensors (EMA weights, torch names),
metrics.json; prints the metrics JSON with flowgpu's keys (sliced W2 and RBF MMD², each with its
data-vs-data floor, against the very data draws flowgpu's metrics use: the numbers compare directly
with flowgpu's metrics.json and `flowgpu eval toy`).

--load DIR: loads DIR/model.safetensors (flowgpu's, or this script's) into the Sequential with
load_state_dict(strict=True), samples from flowgpu's own source points (flow.hostNormals(2n, seed) of
src/flow/generate.ts, seed from the checkpoint config) and prints max |x_torch − x_flowgpu| against
DIR/samples.npy, and max |v_torch − v_numpy| of the velocity on a few points (numpy_train_toy.py's
forward, itself checked against flowgpu), then the metrics of the torch samples.

Usage:
  python3 bench/peers/torch_train_toy.py --dataset checkerboard --hidden 128 --layers 3 \
      --batch 512 --steps 2000 --seed 0 --out /tmp/cmp-torch-0
  python3 bench/peers/torch_train_toy.py --load /tmp/cmp-fg-0        # flowgpu's run directory
"""
import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_train_toy as ref  # noqa: E402  (metrics, flowgpu's source points, safetensors, NumPy MLP)

TOY_NAMES = ref.TOY_NAMES


def make_mlp(hidden, layers):
    mods = [nn.Linear(3, hidden), nn.SiLU()]
    for _ in range(layers - 1):
        mods += [nn.Linear(hidden, hidden), nn.SiLU()]
    mods.append(nn.Linear(hidden, 2))
    return nn.Sequential(*mods)


def velocity(net, x, t):
    """v(x, t) for x [N, 2] and t a float or a tensor [N]."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
    return net(torch.cat([x, t[:, None]], dim=1))


def toy_batch(name, n, device):
    """The toys of DESIGN.md, drawn with torch's default generator (float32 [n, 2])."""
    rand = lambda *s: torch.rand(*s, device=device)  # noqa: E731
    randn = lambda *s: torch.randn(*s, device=device)  # noqa: E731
    if name == "checkerboard":  # facebookresearch/flow_matching, examples/2d_flow_matching
        x1 = rand(n) * 4 - 2
        x2_ = rand(n) - torch.randint(high=2, size=(n,), device=device) * 2
        x2 = x2_ + (torch.floor(x1) % 2)
        return torch.stack([x1, x2], dim=1) / 0.45
    if name == "moons":
        a = math.pi * rand(n)
        outer = rand(n) < 0.5
        m = torch.stack([torch.where(outer, torch.cos(a), 1 - torch.cos(a)),
                         torch.where(outer, torch.sin(a), 0.5 - torch.sin(a))], dim=1)
        return 3 * (m + 0.05 * randn(n, 2) - torch.tensor([0.5, 0.25], device=device))
    if name == "8gaussians":
        a = torch.randint(high=8, size=(n,), device=device) * (math.pi / 4)
        centres = 5 * torch.stack([torch.cos(a), torch.sin(a)], dim=1)
        return centres + ref.EIGHT_GAUSSIANS_STD * randn(n, 2)
    if name == "2spirals":
        r = torch.sqrt(rand(n)) * 3 * math.pi
        p = torch.stack([-torch.cos(r) * r + 0.5 * rand(n), torch.sin(r) * r + 0.5 * rand(n)], dim=1)
        p = p * (1 - 2 * (rand(n) < 0.5).float())[:, None]  # −p w.p. ½
        return p / 3 + 0.1 * randn(n, 2)
    if name == "circles":
        a = 2 * math.pi * rand(n)
        radius = (0.5 + 0.5 * (rand(n) < 0.5).float())[:, None]  # 1 or ½ w.p. ½
        return 3 * (radius * torch.stack([torch.cos(a), torch.sin(a)], dim=1) + 0.08 * randn(n, 2))
    raise ValueError(f"unknown data set '{name}'")


@torch.no_grad()
def sample_midpoint(net, x0, steps):
    x = x0.clone()
    h = 1.0 / steps
    for i in range(steps):
        t = i * h
        k1 = velocity(net, x, t)
        k2 = velocity(net, x + (h / 2) * k1, t + h / 2)
        x = x + h * k2
    return x


def state_dict_numpy(net):
    return {k: v.detach().cpu().float().numpy() for k, v in net.state_dict().items()}


def train(a, device):
    torch.manual_seed(a.seed)
    net = make_mlp(a.hidden, a.layers).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=a.weight_decay)
    ema_net = copy.deepcopy(net).requires_grad_(False)  # the average starts as the initial weights
    nparams = sum(p.numel() for p in net.parameters())
    print(f"torch train toy: {a.dataset}, {nparams} parameters, batch {a.batch}, {a.steps} steps on {device}", flush=True)
    losses, acc = [], torch.zeros((), device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t_start = time.time()
    for k in range(1, a.steps + 1):
        x1 = toy_batch(a.dataset, a.batch, device)
        x0 = torch.randn_like(x1)
        t = torch.rand(a.batch, device=device)
        xt = t[:, None] * x1 + (1 - t[:, None]) * x0
        ut = x1 - x0
        loss = F.mse_loss(velocity(net, xt, t), ut)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if a.ema > 0:
            d = min(a.ema, (1 + k) / (10 + k))
            with torch.no_grad():
                for e, p in zip(ema_net.parameters(), net.parameters()):
                    e.mul_(d).add_(p, alpha=1 - d)
        acc += loss.detach()
        if k % a.log_every == 0 or k == a.steps:
            n_in_window = a.log_every if k % a.log_every == 0 else k % a.log_every
            losses.append(acc.item() / n_in_window)  # one read-back per window, as flowgpu
            acc.zero_()
            if k % (10 * a.log_every) == 0 or k == a.steps:
                print(f"step {k}/{a.steps}  loss {losses[-1]:.4f}  {k / (time.time() - t_start):.1f} steps/s", flush=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    train_seconds = time.time() - t_start
    sampler_net = ema_net if a.ema > 0 else net
    x0 = torch.randn(a.samples, 2, device=device)
    x = sample_midpoint(sampler_net, x0, a.nfe // 2).cpu().numpy().astype(np.float32)
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "samples.npy"), x)
    cfg = {"kind": "toy", "dataset": a.dataset, "steps": a.steps, "batch": a.batch, "lr": a.lr,
           "weightDecay": a.weight_decay, "ema": a.ema, "seed": a.seed, "trainer": "bench/peers/torch_train_toy.py",
           "model": {"kind": "mlp", "dim": 2, "outDim": 2, "hidden": a.hidden, "hiddenLayers": a.layers,
                     "timeEmbedding": "raw", "timeDim": 1, "condDim": 0, "activation": "silu"}}
    ref.write_safetensors(os.path.join(a.out, "model.safetensors"), state_dict_numpy(sampler_net),
                          {"format": "pt", "config": json.dumps(cfg)})
    q = ref.quality_report(x, a.dataset)
    adapter = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    metrics = {"dataset": a.dataset, "steps": a.steps, "parameters": nparams, "finalLoss": losses[-1],
               "trainSeconds": train_seconds, "stepsPerSecond": a.steps / train_seconds,
               "adapter": f"torch {torch.__version__} {adapter}",
               "sampler": {"solver": "midpoint", "nfe": 2 * (a.nfe // 2), "n": a.samples}, **q}
    with open(os.path.join(a.out, "metrics.json"), "w") as f:
        f.write(json.dumps(metrics, indent=2) + "\n")
    print(ref.format_quality(q))
    print(json.dumps(metrics, indent=2))


def load_and_sample(a, device):
    sd_np, meta = ref.read_safetensors(os.path.join(a.load, "model.safetensors"))
    cfg = json.loads(meta["config"]) if "config" in meta else {}
    hidden, layers = ref.mlp_shape_from_state(sd_np)
    net = make_mlp(hidden, layers).to(device)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in sd_np.items()}, strict=True)
    seed = int(cfg.get("seed", a.seed))
    ref_path = os.path.join(a.load, "samples.npy")
    # only flowgpu's samples.npy were drawn from normalSource(n, seed); the peers' own use their own noise
    from_flowgpu = "trainer" not in cfg
    fg = np.load(ref_path) if from_flowgpu and os.path.exists(ref_path) else None
    if not from_flowgpu:
        print(f"{a.load} was written by {cfg['trainer']} (own source noise): no point-by-point comparison")
    n = fg.shape[0] if fg is not None else a.samples
    x0 = torch.from_numpy(ref.normal_source(n, seed)).to(device)  # flowgpu's source points
    x = sample_midpoint(net, x0, a.nfe // 2).cpu().numpy().astype(np.float32)
    print(f"loaded {a.load}/model.safetensors into {net.__class__.__name__} ({hidden}×{layers}) with strict "
          f"load_state_dict; seed {seed}; {n} points, midpoint nfe {2 * (a.nfe // 2)} on {device}")
    # velocity on a few points against the NumPy forward (checked against flowgpu's samples)
    npm = ref.MLP(hidden, layers, None, np.float32)
    npm.load_state_dict(sd_np)
    pts = ref.normal_source(16, seed + 99) * 3
    for tv in (0.0, 0.5, 0.95):
        v_np = npm.forward(pts, np.float32(tv))
        v_t = velocity(net, torch.from_numpy(pts).to(device), tv).detach().cpu().numpy()
        print(f"t = {tv}: max |v_torch − v_numpy| = {np.abs(v_t - v_np).max():.3e} (max |v| {np.abs(v_np).max():.3f})")
    if fg is not None:
        diff = np.abs(x.astype(np.float64) - fg.astype(np.float64))
        print(f"max |x_torch − x_flowgpu| = {diff.max():.3e} (mean {diff.mean():.3e}) against {ref_path}")
    q = ref.quality_report(x, cfg.get("dataset", a.dataset))
    print(ref.format_quality(q))
    print(json.dumps(q))


def main(argv=None):
    p = argparse.ArgumentParser(description="plain PyTorch trainer of flowgpu's 2-D toy config")
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
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", default=None)
    p.add_argument("--load", metavar="DIR", help="sample from DIR/model.safetensors, compare with DIR/samples.npy")
    a = p.parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = False  # full float32 matmuls, as flowgpu
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(a.device)
    if a.load:
        load_and_sample(a, device)
    else:
        a.out = a.out or os.path.join("runs", f"toy-{a.dataset}-torch")
        train(a, device)


if __name__ == "__main__":
    sys.exit(main())
