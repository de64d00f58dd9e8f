"""GPT-2 training step and greedy generation: the course's GPT vs Hugging Face, side by side.

    python benchmarks/gpt_throughput.py                              # GPU: GPT-2 124M, batch 32 x 1024, bf16
    python benchmarks/gpt_throughput.py --device cpu --small         # CPU: a small shape, a minute or two
    python benchmarks/gpt_throughput.py --small --device cpu --out benchmarks/results/gpt_throughput_cpu.md

Same configuration (``gpt_config_to_hf``), same random-init weights (HF's, copied with
``load_hf_gpt2_weights``), same batches (random token ids), same optimizer (AdamW, fused on CUDA),
bf16 autocast where the GPU computes it natively. Rows:

* training step (forward, loss, backward, optimizer step): ``hf`` = ``transformers.GPT2LMHeadModel``
  (SDPA attention) with ``labels=``; ``course`` = :class:`ptm_course.models.gpt.GPT` + ``lm_loss``;
  each eager and, with ``--compile`` (default on CUDA), under ``torch.compile``. Rows of a mode are
  built and warmed up first, then timed in ``--repeat`` interleaved rounds; tokens/s is the median
  round, "vs HF" the median of the per-round ratios. MFU counts 6·N (non-embedding matmul
  weights) + 6·d·V (the tied head) + 12·L·d·T (attention) FLOPs per token against the card's bf16
  peak (``--peak-tflops`` to override);
* generation (greedy, ``--new-tokens`` new tokens after a ``--prompt``-token prompt, batch
  ``--gen-batch``): ``hf generate`` (``do_sample=False``, its KV cache), ``course generate`` (the
  course's ``KVCache``) and ``course, no cache`` (recompute every step); new tokens/s, and both
  produce the same tokens (checked).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ptm_course.models.gpt import GPT, GPTConfig, gpt_config_to_hf, lm_loss, load_hf_gpt2_weights  # noqa: E402
from ptm_course.utils import amp_dtype  # noqa: E402
from transformer_throughput import peak_tflops, time_steps, warm_up  # noqa: E402


def flops_per_token(cfg: GPTConfig, T: int) -> float:
    """Training FLOPs per token: 6 per multiply-add weight (forward + backward) + attention scores."""
    d, L = cfg.d_model, cfg.n_layers
    matmul = L * (4 * d * d + 2 * d * cfg.d_ff) + d * cfg.vocab_size  # projections, FFN, the tied head
    return 6 * matmul + 12 * L * d * T  # Q·Kᵀ and A·V


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_pair(cfg: GPTConfig, device: torch.device):
    import transformers

    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**gpt_config_to_hf(cfg), attn_implementation="sdpa"))
    ours = GPT(cfg)
    load_hf_gpt2_weights(ours, hf.state_dict())
    return hf.to(device), ours.to(device)


def train_rows(cfg: GPTConfig, B: int, T: int, device: torch.device, steps: int, warmup: int, repeat: int,
               modes: list[str], peak: float | None) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, cfg.vocab_size, (B, T), generator=g).to(device) for _ in range(4)]
    use_bf16 = amp_dtype(device) == torch.bfloat16
    rows = []
    for mode in modes:
        hf, ours = build_pair(cfg, device)
        steps_of = {}
        for kind, model in (("hf", hf), ("course", ours)):
            model.train()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, fused=device.type == "cuda" or None)
            if mode == "compiled":
                model.compile()
            if kind == "hf":
                def loss_of(ids, model=model):
                    return model(input_ids=ids, labels=ids).loss
            else:
                def loss_of(ids, model=model):
                    return lm_loss(model, {"input_ids": ids})[0]

            def step(ids, loss_of=loss_of, model=model, opt=opt):
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    loss = loss_of(ids)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                return loss

            steps_of[kind] = step
            warm_up(step, batches, warmup)
        secs = {k: [] for k in steps_of}
        for r in range(repeat):
            for kind, step in steps_of.items():
                secs[kind].append(time_steps(step, batches, steps, device))
                print(f"train {kind:8s} {mode:8s} round {r + 1}/{repeat} {B * T / secs[kind][-1]:12,.0f} tokens/s", flush=True)
        for kind in steps_of:
            tok_s = B * T / statistics.median(secs[kind])
            achieved = tok_s * flops_per_token(cfg, T)
            rows.append({"part": "train", "model": kind, "mode": mode, "tokens/s": tok_s,
                         "min": min(B * T / s for s in secs[kind]), "max": max(B * T / s for s in secs[kind]),
                         "TFLOP/s": achieved / 1e12, "MFU": None if peak is None else achieved / (peak * 1e12),
                         "vs HF": statistics.median(h / o for h, o in zip(secs["hf"], secs[kind]))})
        del steps_of, hf, ours
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def generation_rows(cfg: GPTConfig, B: int, prompt: int, new: int, device: torch.device, repeat: int) -> list[dict]:
    hf, ours = build_pair(cfg, device)
    hf.eval(), ours.eval()
    ids = torch.randint(0, cfg.vocab_size, (B, prompt), generator=torch.Generator().manual_seed(1)).to(device)
    runs = {
        "hf generate": lambda: hf.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                                           pad_token_id=0, attention_mask=torch.ones_like(ids)),
        "course generate": lambda: ours.generate(ids, new, temperature=0),
        "course, no cache": lambda: ours.generate(ids, new, temperature=0, use_cache=False),
    }
    outs = {k: run() for k, run in runs.items()}  # warm-up, and the tokens to compare
    same = all(torch.equal(outs["hf generate"], o) for o in outs.values())
    secs = {k: [] for k in runs}
    for r in range(repeat):
        for kind, run in runs.items():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            with torch.no_grad():
                run()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            secs[kind].append(time.perf_counter() - t0)
            print(f"generate {kind:18s} round {r + 1}/{repeat} {B * new / secs[kind][-1]:10,.0f} new tokens/s", flush=True)
    return [{"part": "generate", "model": kind, "mode": "eager", "tokens/s": B * new / statistics.median(s),
             "min": min(B * new / x for x in s), "max": max(B * new / x for x in s),
             "vs HF": statistics.median(h / o for h, o in zip(secs["hf generate"], s)), "same tokens as HF": same}
            for kind, s in secs.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--small", action="store_true", help="a small shape for CPU (4 layers, d 256, batch 8 x 128)")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--seq", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=None, help="interleaved timing rounds (default 3 on CUDA, 1 on CPU)")
    ap.add_argument("--compile", dest="compile", action="store_true", default=None, help="also torch.compile (default: on CUDA)")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--parts", nargs="+", choices=["train", "generate"], default=["train", "generate"])
    ap.add_argument("--prompt", type=int, default=None, help="prompt length for generation")
    ap.add_argument("--new-tokens", type=int, default=None, help="tokens to generate")
    ap.add_argument("--gen-batch", type=int, default=None, help="batch size for generation")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--out", default=None, help="write the markdown table here (and the rows as .json beside it)")
    args = ap.parse_args()
    import transformers

    device = _device(args.device)
    if args.small:
        cfg = GPTConfig.small(vocab_size=50257, max_len=512, dropout=0.0, attn_dropout=0.0)
        B, T, steps, warmup = args.batch or 8, args.seq or 128, args.steps or 5, args.warmup or 2
        prompt, new, gen_b = args.prompt or 16, args.new_tokens or 64, args.gen_batch or 1
    else:
        cfg = GPTConfig.gpt2(vocab_size=50304, dropout=0.0, attn_dropout=0.0)  # vocab padded to a multiple of 64
        B, T, steps, warmup = args.batch or 32, args.seq or 1024, args.steps or 10, args.warmup or 5
        prompt, new, gen_b = args.prompt or 32, args.new_tokens or 256, args.gen_batch or 1
    repeat = args.repeat or (3 if device.type == "cuda" else 1)
    if min(B, T, steps, repeat) < 1 or warmup < 0:
        ap.error("--batch, --seq, --steps and --repeat must be at least 1")
    if T > cfg.max_len or prompt + new > cfg.max_len:
        ap.error(f"sequence lengths must fit max_len {cfg.max_len}")
    do_compile = device.type == "cuda" if args.compile is None else args.compile
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    peak = peak_tflops(device, args.peak_tflops)
    rows = []
    if "train" in args.parts:
        rows += train_rows(cfg, B, T, device, steps, warmup, repeat, ["eager"] + (["compiled"] if do_compile else []), peak)
    if "generate" in args.parts:
        rows += generation_rows(cfg, gen_b, prompt, new, device, repeat)

    dev_name = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
    lines = [
        "# GPT-2 layout: course GPT vs HF transformers",
        "",
        f"- device: {dev_name}; torch {torch.__version__}; transformers {transformers.__version__}; "
        f"precision: {'bf16 autocast' if amp_dtype(device) == torch.bfloat16 else 'fp32'}",
        f"- shape: L={cfg.n_layers}, d={cfg.d_model}, heads={cfg.n_heads}, V={cfg.vocab_size}; training batch {B} x {T}, "
        f"{warmup} warm-up + {repeat} rounds of {steps} steps; generation: batch {gen_b}, prompt {prompt}, {new} new tokens, greedy",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        "- tokens/s: the median round (min–max: the rounds' range); vs HF: median of per-round ratios to the HF row",
        "",
        "| part | model | mode | tokens/s | min–max | MFU | vs HF |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mfu = "n/a" if r.get("MFU") is None else f"{100 * r['MFU']:.1f} %"
        lines.append(f"| {r['part']} | {r['model']} | {r['mode']} | {r['tokens/s']:,.0f} | {r['min']:,.0f}–{r['max']:,.0f} "
                     f"| {mfu} | {r['vs HF']:.3f}x |")
    if any(r["part"] == "generate" for r in rows):
        same = all(r.get("same tokens as HF", True) for r in rows)
        lines += ["", f"Greedy tokens identical across the three generation rows: {'yes' if same else 'NO'}."]
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    if args.out:
        from ptm_course.io import atomic_write_text

        out = Path(args.out)
        atomic_write_text(out, table)
        atomic_write_text(out.with_suffix(".json"), json.dumps({"device": dev_name, "command": shlex.join(["python", *sys.argv]),
                                                                "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
