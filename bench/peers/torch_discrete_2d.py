"""
An independent implementation of `flowgpu train discrete` on the 2-D discrete checkerboard, in
PyTorch (CPU), for issue 13's "an independent implementation of the same config trained for the
same steps does not do better". Written from the math of the issue (Gat et al. 2024; the
2d_discrete_flow_matching notebook of facebookresearch/flow_matching), not from flowgpu's code:

  data     the notebook's generator, K = 128, d = 2 (8192 equally likely cells)
  source   mask (every token = K; the model reads K + 1 ids, predicts K) or uniform
  path     x_t^i = x_1^i with probability κ_t = tⁿ, else x_0^i;   t ~ U(0, 1 − 1e-3)
  loss     gkl: −κ̇/(1−κ) · [p(x_t) − δ(x_1 = x_t) + (1 − δ(x_1 = x_t)) · log p(x_1)]  (p(mask) = 0)
           ce:  −log p(x_1)
  model    the token MLP: embedding (normal init) of each token, concatenated with t (one raw
           column), Linear + SiLU × layers, Linear to d·K logits (PyTorch's default Linear init)
  optim    AdamW (betas 0.9/0.999, eps 1e-8, weight decay 0), linear warm-up then cosine decay to
           1% of the peak lr, optional gradient clipping by global norm
  sampler  the discrete Euler / CTMC step of the issue, 64 steps

Prints one JSON line: the mean loss of the last 100 steps, the on-support fraction and the TV
distance of `--samples` samples to the pmf beside the same for a fresh data draw (the floor).

  /usr/bin/python3 bench/peers/torch_discrete_2d.py --source mask --loss gkl --steps 3000 --batch 512
"""
import argparse, json, math, time
import torch
from torch import nn

K = 128


def checkerboard(n, g):
    x1 = torch.randint(0, 128, (n,), generator=g)
    s = torch.randint(0, 32, (n,), generator=g)
    x2 = s + 64 - 64 * torch.randint(0, 2, (n,), generator=g) + 32 * ((x1 // 32) % 2)
    return torch.stack([x1, x2], 1)


def pmf():
    p = torch.zeros(128, 128, dtype=torch.float64)
    for a in range(128):
        for b in range(128):
            r = b - 32 * ((a // 32) % 2)
            if 0 <= r < 32 or 64 <= r < 96:
                p[a, b] = 1 / 8192
    return p


class TokenMLP(nn.Module):
    def __init__(self, vocab, embed, hidden, layers, length=2):
        super().__init__()
        self.length = length
        self.emb = nn.Embedding(vocab, embed)  # N(0, 1) init
        widths = [length * embed + 1] + [hidden] * layers
        mods = []
        for a, b in zip(widths[:-1], widths[1:]):
            mods += [nn.Linear(a, b), nn.SiLU()]
        mods.append(nn.Linear(hidden, length * K))
        self.mlp = nn.Sequential(*mods)

    def forward(self, x, t):
        h = torch.cat([self.emb(x).flatten(1), t[:, None]], 1)
        return self.mlp(h).view(-1, self.length, K)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--source', default='mask', choices=['mask', 'uniform'])
    ap.add_argument('--loss', default='gkl', choices=['gkl', 'ce'])
    ap.add_argument('--exponent', type=float, default=1.0)
    ap.add_argument('--steps', type=int, default=3000)
    ap.add_argument('--batch', type=int, default=1024)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--warmup', type=int, default=100)
    ap.add_argument('--grad-clip', type=float, default=0.0)
    ap.add_argument('--embed', type=int, default=64)
    ap.add_argument('--hidden', type=int, default=256)
    ap.add_argument('--layers', type=int, default=3)
    ap.add_argument('--samples', type=int, default=20000)
    ap.add_argument('--sample-steps', type=int, default=64)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=0)
    ap.add_argument('--carry', action='store_true', help='mask source: an unmasked token\'s posterior is δ(x_t) by construction')
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(a.seed + 1)
    n_exp = a.exponent
    mask = a.source == 'mask'
    vocab = K + 1 if mask else K
    model = TokenMLP(vocab, a.embed, a.hidden, a.layers)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def lr_at(step):  # step 1-based
        if a.warmup and step <= a.warmup:
            return a.lr * step / a.warmup
        if not a.warmup:
            return a.lr
        p = (step - a.warmup) / max(1, a.steps - a.warmup)
        return a.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p)))

    def carry(logits, xt):
        # the exact posterior of a token that is no longer masked is δ(x_t): the model only predicts masked ones
        if not (a.carry and mask):
            return logits
        onehot = torch.full_like(logits, -1e30).scatter(-1, xt.clamp(max=K - 1)[..., None], 0.0)
        return torch.where((xt < K)[..., None], onehot, logits)

    losses = []
    t0 = time.time()
    for step in range(1, a.steps + 1):
        x1 = checkerboard(a.batch, g)
        x0 = torch.full_like(x1, K) if mask else torch.randint(0, K, x1.shape, generator=g)
        t = torch.rand(a.batch, generator=g) * (1 - 1e-3)
        kappa = t ** n_exp
        keep1 = torch.rand(x1.shape, generator=g) < kappa[:, None]
        xt = torch.where(keep1, x1, x0)
        logits = carry(model(xt, t), xt)
        logp = torch.log_softmax(logits, -1)
        logp_x1 = logp.gather(-1, x1[..., None])[..., 0]
        if a.loss == 'ce':
            loss = -logp_x1.mean()
        else:
            dkappa = n_exp * t ** (n_exp - 1)
            w = (dkappa / (1 - kappa))[:, None]
            p_xt = logp.exp().gather(-1, xt.clamp(max=K - 1)[..., None])[..., 0] * (xt < K)
            same = (x1 == xt).float()
            loss = (-w * (p_xt - same + (1 - same) * logp_x1)).mean()
        for grp in opt.param_groups:
            grp['lr'] = lr_at(step)
        opt.zero_grad()
        loss.backward()
        if a.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        opt.step()
        losses.append(loss.item())
    train_s = time.time() - t0

    # the discrete Euler (CTMC) sampler, 64 uniform steps from t = 0 to 1 − 1e-3
    with torch.no_grad():
        gs = torch.Generator().manual_seed(a.seed + 2)
        n = a.samples
        x = torch.full((n, 2), K) if mask else torch.randint(0, K, (n, 2), generator=gs)
        grid = torch.linspace(0, 1 - 1e-3, a.sample_steps + 1)
        for i in range(a.sample_steps):
            t, h = grid[i].item(), (grid[i + 1] - grid[i]).item()
            p = torch.softmax(carry(model(x, torch.full((n,), t)), x), -1)
            xhat = torch.multinomial(p.view(-1, K), 1, generator=gs).view(n, 2)
            if i == a.sample_steps - 1:
                x = xhat
                break
            lam = n_exp * t ** (n_exp - 1) / (1 - t ** n_exp)  # κ̇ / (1 − κ)
            jump = (torch.rand(x.shape, generator=gs) < 1 - math.exp(-h * lam)) & (xhat != x)
            x = torch.where(jump, xhat, x)
        q = pmf()
        def support_tv(s):
            hist = torch.zeros(128 * 128, dtype=torch.float64)
            hist.index_add_(0, s[:, 0] * 128 + s[:, 1], torch.ones(len(s), dtype=torch.float64))
            hist /= len(s)
            return float((hist[q.view(-1) > 0]).sum()), float(0.5 * (hist - q.view(-1)).abs().sum())
        sup, tv = support_tv(x)
        _, tv_floor = support_tv(checkerboard(n, torch.Generator().manual_seed(a.seed + 3)))
    print(json.dumps({
        'engine': f'torch {torch.__version__} cpu', **{k: v for k, v in vars(a).items()},
        'finalLoss': sum(losses[-100:]) / len(losses[-100:]), 'trainSeconds': train_s,
        'support': sup, 'tv': tv, 'tvFloor': tv_floor,
    }))


if __name__ == '__main__':
    main()
