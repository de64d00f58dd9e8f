"""Generation speed with and without the KV cache as the generated length grows (chapter 10's plot).

    python benchmarks/gpt_kv_cache.py                                   # CPU, GPTConfig.small, writes the results file
    python benchmarks/gpt_kv_cache.py --lengths 32 64 --repeat 1 --out /tmp/kv.json

One model (``GPTConfig.small`` with 512 positions, random weights: speed does not depend on them), one prompt of
``--prompt`` tokens, greedy decoding of each length in ``--lengths``: with the cache
(``use_cache=True``: the prompt once, then one token per step) and without (the whole sequence
recomputed every step). Lengths and both modes are interleaved in ``--repeat`` rounds; a cell is
the median round, in new tokens per second. Both modes produce the same tokens (checked).
"""

from __future__ import annotations

import argparse
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ptm_course.io import atomic_write_json  # noqa: E402
from ptm_course.models.gpt import GPT, GPTConfig  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "gpt_kv_cache_cpu.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    ap.add_argument("--prompt", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    cfg = GPTConfig.small(max_len=512, dropout=0.0, attn_dropout=0.0)
    if args.prompt + max(args.lengths) > cfg.max_len or args.repeat < 1 or min(args.lengths) < 1:
        ap.error(f"prompt + length must fit max_len {cfg.max_len}; lengths and --repeat at least 1")
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = GPT(cfg).to(device).eval()
    prompt = torch.randint(0, cfg.vocab_size, (1, args.prompt), generator=torch.Generator().manual_seed(1)).to(device)
    for use_cache in (True, False):  # warm-up, and the tokens must agree
        model.generate(prompt, 8, temperature=0, use_cache=use_cache)
    secs = {(n, c): [] for n in args.lengths for c in (True, False)}
    same = True
    for r in range(args.repeat):
        for n in args.lengths:
            outs = {}
            for use_cache in (True, False):
                t0 = time.perf_counter()
                outs[use_cache] = model.generate(prompt, n, temperature=0, use_cache=use_cache)
                secs[(n, use_cache)].append(time.perf_counter() - t0)
            same &= torch.equal(outs[True], outs[False])
            print(f"round {r + 1}/{args.repeat}  {n:4d} new tokens: cache {n / secs[(n, True)][-1]:8.0f} tok/s, "
                  f"no cache {n / secs[(n, False)][-1]:8.0f} tok/s", flush=True)
    rows = [{"new_tokens": n,
             "cache_tokens_per_s": n / statistics.median(secs[(n, True)]),
             "no_cache_tokens_per_s": n / statistics.median(secs[(n, False)])} for n in args.lengths]
    for row in rows:
        row["speedup"] = row["cache_tokens_per_s"] / row["no_cache_tokens_per_s"]
    result = {
        "command": shlex.join(["python", *sys.argv]),
        "device": f"{device.type} ({platform.machine()}, {torch.get_num_threads()} threads), torch {torch.__version__}",
        "model": f"GPTConfig.small: {cfg.n_layers} layers, d_model {cfg.d_model}, vocab {cfg.vocab_size}",
        "prompt": args.prompt, "repeat": args.repeat, "same_tokens": same, "rows": rows,
    }
    atomic_write_json(args.out, result)
    for row in rows:
        print(f"{row['new_tokens']:4d} new tokens: {row['cache_tokens_per_s']:8.0f} vs {row['no_cache_tokens_per_s']:8.0f} "
              f"tok/s ({row['speedup']:.1f}x)")
    print(f"same tokens with and without the cache: {same}; wrote {args.out}")


if __name__ == "__main__":
    main()
