"""The per-task reference trainer of ``loop_ratio``: the batched round written as public multi-task code writes
it (one ``nn.Module``, autograd and an optimizer step per task)."""
from __future__ import annotations


class LoopTrainer:
    """The same round written the way public multi-task code writes it: one ``nn.Module`` with a shared
    layer and a head per task; per task a forward pass, ``loss.backward()`` and an optimizer step (heads,
    with the shared layer frozen), then per task a forward and backward accumulating the shared layer's
    gradient, one optimizer step on it (heads frozen), and the row renormalisation.

    Step sizes follow :mod:`mtrl_lib.train`'s convention (the learning rate is ``eta * m``), so one round of
    both gives the same weights on the same data (``tests/test_bench.py``). ``draw(phase, t)`` replaces the
    Gaussian draw of task ``t``'s inputs (phase 0 heads, 1 shared layer), for that test."""

    def __init__(self, cfg, M, tasks, W, b, A, gen, draw=None):
        import torch

        from ...losses import loss_value
        from ...model import output_scale

        self.cfg, self.M, self.tasks, self.gen, self.draw = cfg, M, tasks, gen, draw
        self._loss = loss_value
        m, d = W.shape
        scale = output_scale(m)

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.body = torch.nn.Linear(d, m)
                self.heads = torch.nn.ModuleList(torch.nn.Linear(m, 1, bias=False) for _ in range(A.shape[0]))

            def forward(self, x, t):
                return self.heads[t](torch.relu(self.body(x))).squeeze(-1) * scale

        net = Net().to(W.device, W.dtype)
        with torch.no_grad():
            net.body.weight.copy_(W)
            net.body.bias.copy_(b)
            for t, h in enumerate(net.heads):
                h.weight.copy_(A[t])
        net.body.bias.requires_grad_(False)  # b is fixed in the algorithm
        self.net = net
        self.head_opts = [torch.optim.SGD(h.parameters(), lr=cfg.eta_a * m) for h in net.heads]
        # train.py's step is W - eta_W (m grad + wd W) = W - (eta_W m) (grad + (wd / m) W)
        self.body_opt = torch.optim.SGD([net.body.weight], lr=cfg.eta_W * m, weight_decay=cfg.weight_decay / m)

    def _sample(self, phase: int, t: int, n: int):
        from ...tasks import sample

        if self.draw is None:
            X, Y = sample(self.M, self.tasks[t], n, self.gen)
            return X[0], Y[0]
        x = self.draw(phase, t)
        return x, self.tasks[t].clean_labels((x @ self.M).unsqueeze(0))[0]

    def round(self) -> None:
        import torch

        cfg, net, T = self.cfg, self.net, self.cfg.T
        if cfg.head_mode == "adapted":
            net.body.weight.requires_grad_(False)
            for t in range(T):
                x, y = self._sample(0, t, cfg.n1)
                opt = self.head_opts[t]
                opt.zero_grad()
                self._loss(net(x, t), y, cfg.loss).mean().backward()
                opt.step()
            net.body.weight.requires_grad_(True)
        for h in net.heads:
            h.weight.requires_grad_(False)
        self.body_opt.zero_grad()
        for t in range(T):
            x, y = self._sample(1, t, cfg.n2)
            (self._loss(net(x, t), y, cfg.loss).mean() / T).backward()
        self.body_opt.step()
        for h in net.heads:
            h.weight.requires_grad_(True)
        if cfg.renorm:
            with torch.no_grad():
                w = net.body.weight
                w.div_(w.norm(dim=1, keepdim=True).clamp_min(1e-12))

    def weights(self):
        import torch

        with torch.no_grad():
            return self.net.body.weight.detach().clone(), torch.cat([h.weight.detach() for h in self.net.heads])
