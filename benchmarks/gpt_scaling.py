"""Chapter 10's scaling sweep: GPTs of five sizes (≈ 47× in non-embedding parameters) trained on
the same WikiText-2 tokens, validation loss against size and against training FLOPs.

    python benchmarks/gpt_scaling.py                          # the full run the notebook quotes (~30 min, 2 cores)
    python benchmarks/gpt_scaling.py --tokens 100000 --sizes 0 1 --out /tmp/s.json   # a quick check

Every size sees the same ``--tokens`` training tokens (windows of 128 from the course's byte-level
BPE, 4,096 tokens, trained on WikiText-2's train split), batch 16, AdamW with lr ``--lr`` (2e-3)
for every size, 5 % warm-up, cosine decay to 10 %, weight decay 0.1. The sizes grow in width up
to d_model 128, then in depth (why: benchmarks/README.md). The validation loss (nats per token) is measured
on the first ``--valid-tokens`` tokens of the validation split, six times during training.
Writes ``benchmarks/results/gpt_scaling_cpu.json``: the runs, their loss curves (tokens, FLOPs,
loss) and the power law L(N) = a·N^(−α) fitted to the final losses.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ptm_course.data import load  # noqa: E402
from ptm_course.data.bpe import wikitext_bpe  # noqa: E402
from ptm_course.io import atomic_write_json  # noqa: E402
from ptm_course.models.gpt import GPTConfig  # noqa: E402
from ptm_course.scaling import fit_power_law, train_for_tokens  # noqa: E402
from ptm_course.utils import set_seed  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "gpt_scaling_cpu.json"
# (n_layers, d_model, n_heads): ≈ 25 k to 1.2 M non-embedding parameters
SIZES = [(2, 32, 2), (2, 64, 2), (3, 96, 3), (4, 128, 4), (6, 128, 4)]
VOCAB = 4096
BLOCK = 128


def wikitext_ids(tokenizer, split: str, limit: int | None = None) -> torch.Tensor:
    """One token stream of a WikiText-2 split (lines joined as they are in the file)."""
    text = "".join(load("wikitext-2", split=split)["text"])
    ids = torch.tensor(tokenizer.encode(text).ids, dtype=torch.long)
    return ids if limit is None else ids[:limit]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=1_000_000, help="training tokens per size")
    ap.add_argument("--valid-tokens", type=int, default=50_000)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(range(len(SIZES))),
                    help=f"indices into {SIZES}")
    ap.add_argument("--lr", type=float, default=2e-3, help="learning rate, the same for every size")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    if any(not 0 <= i < len(SIZES) for i in args.sizes):
        ap.error(f"--sizes are indices 0..{len(SIZES) - 1}")
    set_seed(0)
    t0 = time.time()
    tok = wikitext_bpe(VOCAB)
    train_ids, valid_ids = wikitext_ids(tok, "train"), wikitext_ids(tok, "validation", args.valid_tokens)
    print(f"BPE {VOCAB}: {len(train_ids):,} training tokens, {len(valid_ids):,} validation tokens "
          f"({time.time() - t0:.0f} s)", flush=True)
    runs = []
    for i in args.sizes:
        L, d, h = SIZES[i]
        cfg = GPTConfig(vocab_size=VOCAB, max_len=BLOCK, d_model=d, n_layers=L, n_heads=h, dropout=0.0, attn_dropout=0.0)
        run = train_for_tokens(cfg, train_ids, valid_ids, args.tokens, block_size=BLOCK, lr=args.lr, progress=True)
        runs.append(run)
        print(f"L={L} d={d}: N={run['params']:,} non-embedding, {run['flops']:.3g} FLOPs, valid loss "
              f"{run['valid_loss']:.3f} ({run['seconds']:.0f} s)", flush=True)
    result = {
        "command": shlex.join(["python", *sys.argv]),
        "device": f"CPU ({platform.machine()}, {torch.get_num_threads()} threads), torch {torch.__version__}",
        "vocab_size": VOCAB, "block_size": BLOCK, "tokens_per_run": args.tokens, "lr": args.lr,
        "valid_tokens": len(valid_ids), "runs": runs, "seconds": time.time() - t0,
    }
    if len(runs) >= 2:
        a, alpha = fit_power_law([r["params"] for r in runs], [r["valid_loss"] for r in runs])
        result["power_law"] = {"a": a, "alpha": alpha, "form": "valid_loss = a * N^(-alpha), N non-embedding"}
        print(f"fit: L(N) = {a:.3f} · N^(-{alpha:.4f})")
    atomic_write_json(args.out, result)
    print(f"wrote {args.out} ({result['seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
