"""Does the package's LSTM language model add overhead over a plain ``nn.LSTM`` training loop?

Three ways to run the same training step (embedding → nn.LSTM → tied softmax, truncated BPTT with
a detached state, cross-entropy, gradient clipping, AdamW), on the same random token stream:

* ``plain``   — a hand-written ``nn.Module`` and a hand-written loop: the reference;
* ``package`` — ``ptm_course.encoders.LSTMLM`` + ``TBPTTLoss`` + ``BPTTBatches`` in the same
  hand-written loop (the model and loss objects of the package);
* ``fit``     — the same package objects trained by ``ptm_course.train.fit`` (the course's loop:
  schedule, logging, metrics; progress bar off).

The three are timed in interleaved rounds (plain, package, fit, plain, …) so that a noisy, shared
machine slows them alike; the median over rounds is reported as tokens/s and as the ratio to
``plain``. The target is an overhead of at most 10 %.

    OMP_NUM_THREADS=1 python benchmarks/lstm_lm_overhead.py                 # CPU, small model
    python benchmarks/lstm_lm_overhead.py --device cuda --d-model 512 --batch-size 64

Writes nothing by itself; paste the printed Markdown table into
``benchmarks/results/lstm_lm_overhead.md``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F

from ptm_course.encoders import BPTTBatches, LMBatch, LSTMLM, LSTMLMConfig, TBPTTLoss
from ptm_course.train import fit


class PlainLM(nn.Module):
    """The reference: what one would write without the course package."""

    def __init__(self, V: int, d: int, n_layers: int):
        super().__init__()
        self.embed = nn.Embedding(V, d)
        self.lstm = nn.LSTM(d, d, n_layers, batch_first=True)
        self.head = nn.Linear(d, V)
        self.head.weight = self.embed.weight

    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_plain(model, batches, steps, device, lr, clip) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    state = None
    it = iter(batches)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        x, y, reset = next(it)
        x, y = x.to(device), y.to(device)
        if reset:
            state = None
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
    sync(device)
    return time.perf_counter() - t0


def run_package_loop(model, batches, steps, device, lr, clip) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    loss_fn = TBPTTLoss()
    it = iter(batches)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        x, y, reset = next(it)
        loss, _ = loss_fn(model, LMBatch(x.to(device), y.to(device), reset))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
    sync(device)
    return time.perf_counter() - t0


def run_fit(model, batches, steps, device, lr, clip) -> float:
    sync(device)
    t0 = time.perf_counter()
    fit(model, batches, TBPTTLoss(), max_steps=steps, lr=lr, schedule="constant", grad_clip=clip,
        device=device, amp=False, progress=False, log_every=10)
    sync(device)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--vocab-size", type=int, default=5_000)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-layers", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--bptt", type=int, default=35)
    p.add_argument("--steps", type=int, default=20, help="steps per timed run")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    device = torch.device(args.device)
    V, d, L = args.vocab_size, args.d_model, args.n_layers
    gen = torch.Generator().manual_seed(0)
    stream = torch.randint(0, V, (args.batch_size * args.bptt * (args.steps + 2),), generator=gen)
    batches = BPTTBatches(stream, args.batch_size, args.bptt)

    def make(kind: str) -> nn.Module:
        torch.manual_seed(0)
        if kind == "plain":
            return PlainLM(V, d, L).to(device)
        return LSTMLM(LSTMLMConfig(V, d_model=d, d_hidden=d, n_layers=L, dropout=0.0)).to(device)

    runners = {"plain": run_plain, "package": run_package_loop, "fit": run_fit}
    times: dict[str, list[float]] = {k: [] for k in runners}
    for k, run in runners.items():  # warm-up round, not timed
        run(make(k), batches, 2, device, 1e-3, 0.25)
    for _ in range(args.rounds):
        for k, run in runners.items():
            times[k].append(run(make(k), batches, args.steps, device, 1e-3, 0.25))
    tokens = args.steps * args.batch_size * args.bptt
    base = statistics.median(times["plain"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}; "
          f"V={V}, d={d}, layers={L}, batch {args.batch_size}×{args.bptt}, {args.steps} steps × {args.rounds} rounds")
    print("| loop | median s / run | tokens/s | time vs plain |")
    print("|---|---|---|---|")
    for k, ts in times.items():
        med = statistics.median(ts)
        print(f"| {k} | {med:.3f} | {tokens / med:,.0f} | {med / base:.3f} |")


if __name__ == "__main__":
    main()
