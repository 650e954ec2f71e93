#!/usr/bin/python3
"""Reference values for nn's TestAdamMatchesTorch.

Runs torch.optim.Adam (default settings, and one non-default setting) on two
float64 parameters for 6 steps with gradients g = 2(p - c) + r_t, where c
and r_t are exact binary fractions, and prints the parameters after every
step with repr (shortest round-trip digits); then runs 3000 steps at
lr=0.01 and prints the parameters at the end. Run with Debian's python3-torch:

    /usr/bin/python3 nn/testdata/adam_torch.py
"""
import torch

def run(steps=6, **kw):
    p1 = torch.tensor([[i / 8 - 0.5 for i in range(3)] for _ in range(2)], dtype=torch.float64)
    p1 += torch.tensor([[0.0], [0.25]], dtype=torch.float64)
    p2 = torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64)
    ps = [p1.requires_grad_(), p2.requires_grad_()]
    opt = torch.optim.Adam(ps, **kw)
    out = []
    for t in range(1, steps + 1):
        opt.zero_grad()
        for p in ps:
            flat = p.detach().reshape(-1)
            c = torch.tensor([(i % 3) / 4 for i in range(flat.numel())], dtype=torch.float64)
            r = torch.tensor([((7 * i + 3 * t) % 11 - 5) / 4 * 2.0 ** (i % 3) for i in range(flat.numel())],
                             dtype=torch.float64)
            p.grad = (2 * (flat - c) + r).reshape(p.shape)
        opt.step()
        out.append([v for p in ps for v in p.detach().reshape(-1).tolist()])
    return out

print("torch", torch.__version__)
for kw in [dict(), dict(lr=0.1, betas=(0.8, 0.99), eps=1e-6)]:
    print(kw)
    for row in run(**kw):
        print("{" + ", ".join(repr(v) for v in row) + "},")
print("3000 steps, lr=0.01")
print("{" + ", ".join(repr(v) for v in run(steps=3000, lr=0.01)[-1]) + "},")
