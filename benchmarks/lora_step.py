"""A LoRA training step: the course's LoRA vs PEFT's, on the same BERT, side by side.

    python benchmarks/lora_step.py --device cpu --small --out benchmarks/results/lora_step_cpu.json
    python benchmarks/lora_step.py                       # GPU: BERT-base shape, batch 32 x 128, bf16

Same configuration, same random-init weights (HF's ``BertForSequenceClassification``, copied into
the course's with ``load_hf_weights``), the same LoRA (rank 8, α 16, on the query and value
projections, dropout 0), the same batches and the same optimizer (AdamW over the trainable
parameters only: the LoRA factors and the classifier). Rows:

* ``peft`` — ``peft.get_peft_model(hf, LoraConfig(task_type="SEQ_CLS", ...))``;
* ``course`` — ``apply_lora(BertForSequenceClassification(...))``;
* ``course, full fine-tuning`` — the same course model with every parameter trained, for scale:
  what LoRA saves in a step (the backward still runs through every frozen layer; only the
  weight gradients and the optimizer's work shrink).

Each row is warmed up, then timed in ``--repeat`` interleaved rounds; steps/s is the median
round and "vs PEFT" the median of the per-round ratios. Peak memory is reported on CUDA.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ptm_course.io import atomic_write_json, atomic_write_text  # noqa: E402
from ptm_course.models.bert import BertConfig, BertForSequenceClassification  # noqa: E402
from ptm_course.models.hf_loading import bert_config_to_hf, load_hf_weights  # noqa: E402
from ptm_course.tuning import apply_lora, count_parameters  # noqa: E402
from ptm_course.utils import amp_dtype  # noqa: E402
from transformer_throughput import time_steps, warm_up  # noqa: E402

ROWS = ("peft", "course", "course, full fine-tuning")


def build(cfg: BertConfig, rank: int, alpha: float, device: torch.device) -> dict[str, torch.nn.Module]:
    import peft
    import transformers

    torch.manual_seed(0)
    hf = transformers.BertForSequenceClassification(
        transformers.BertConfig(**bert_config_to_hf(cfg), num_labels=2, attn_implementation="sdpa"))
    models = {}
    for kind in ROWS:
        ours = BertForSequenceClassification(cfg, 2)
        load_hf_weights(ours, hf.state_dict())
        models[kind] = ours
    models["course"] = apply_lora(models["course"], rank=rank, alpha=alpha)
    models["peft"] = peft.get_peft_model(hf, peft.LoraConfig(task_type="SEQ_CLS", r=rank, lora_alpha=alpha,
                                                             lora_dropout=0.0, target_modules=["query", "value"]))
    return {k: m.to(device).train() for k, m in models.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--small", action="store_true", help="a MiniLM-sized shape for CPU (6 layers, d 384, batch 16 x 64)")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--seq", type=int, default=None)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16.0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the rows here as JSON (and a .md table beside it)")
    args = ap.parse_args()
    import peft
    import transformers

    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if args.small:
        cfg = BertConfig.tiny(vocab_size=30522, d_model=384, n_heads=12, d_ff=1536, n_layers=6, max_len=512,
                              dropout=0.0, attn_dropout=0.0)
        B, T, steps = args.batch or 16, args.seq or 64, args.steps or 5
    else:
        cfg = BertConfig.base(dropout=0.0, attn_dropout=0.0)
        B, T, steps = args.batch or 32, args.seq or 128, args.steps or 20
    if min(B, T, steps, args.repeat, args.rank) < 1 or args.warmup < 0:
        ap.error("--batch, --seq, --steps, --repeat and --rank must be at least 1")
    if T > cfg.max_len:
        ap.error(f"--seq must be at most max_len {cfg.max_len}")
    use_bf16 = amp_dtype(device) == torch.bfloat16
    g = torch.Generator().manual_seed(0)
    batches = [{"input_ids": torch.randint(5, cfg.vocab_size, (B, T), generator=g).to(device),
                "attention_mask": torch.ones(B, T, dtype=torch.long, device=device),
                "labels": torch.randint(0, 2, (B,), generator=g).to(device)} for _ in range(4)]
    models = build(cfg, args.rank, args.alpha, device)
    steps_of, trainable = {}, {}
    for kind, model in models.items():
        params = [p for p in model.parameters() if p.requires_grad]
        trainable[kind] = sum(p.numel() for p in params)
        opt = torch.optim.AdamW(params, lr=1e-4, fused=device.type == "cuda" or None)
        if kind == "peft":
            def logits_of(b, model=model):
                return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        else:
            def logits_of(b, model=model):
                return model(b["input_ids"], None, b["attention_mask"])

        def step(b, logits_of=logits_of, opt=opt):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss = F.cross_entropy(logits_of(b).float(), b["labels"])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        steps_of[kind] = step
        warm_up(step, batches, args.warmup)
    assert trainable["peft"] == trainable["course"] == count_parameters(models["course"]).trainable
    secs = {k: [] for k in steps_of}
    peak = {}
    for r in range(args.repeat):
        for kind, step in steps_of.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            secs[kind].append(time_steps(step, batches, steps, device))
            if device.type == "cuda":
                peak[kind] = torch.cuda.max_memory_allocated(device) / 2**20
            print(f"{kind:26s} round {r + 1}/{args.repeat} {1 / secs[kind][-1]:8.2f} steps/s", flush=True)
    rows = [{"row": kind, "steps/s": 1 / statistics.median(s), "min": 1 / max(s), "max": 1 / min(s),
             "vs PEFT": statistics.median(p / o for p, o in zip(secs["peft"], s)),
             "trainable": trainable[kind], "peak MiB": peak.get(kind)} for kind, s in secs.items()]
    dev_name = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
    result = {"device": dev_name, "torch": torch.__version__, "transformers": transformers.__version__,
              "peft": peft.__version__, "precision": "bf16 autocast" if use_bf16 else "fp32",
              "shape": {"layers": cfg.n_layers, "d_model": cfg.d_model, "batch": B, "seq": T},
              "lora": {"rank": args.rank, "alpha": args.alpha, "targets": ["q_proj", "v_proj"]},
              "rounds": args.repeat, "steps": steps, "command": shlex.join(["python", *sys.argv]),
              "rows": {r["row"]: r for r in rows}}
    lines = [f"# LoRA training step: course vs PEFT ({dev_name}, {result['precision']})", "",
             f"- L={cfg.n_layers}, d={cfg.d_model}, batch {B} x {T}; LoRA r={args.rank}, α={args.alpha:g} on q, v; "
             f"{args.repeat} interleaved rounds of {steps} steps; command: `{result['command']}`", "",
             "| row | trainable | steps/s (median) | min–max | vs PEFT | peak MiB |", "|---|---|---|---|---|---|"]
    for r in rows:
        mib = "–" if r["peak MiB"] is None else f"{r['peak MiB']:,.0f}"
        lines.append(f"| {r['row']} | {r['trainable']:,} | {r['steps/s']:.2f} | {r['min']:.2f}–{r['max']:.2f} | "
                     f"{r['vs PEFT']:.3f}x | {mib} |")
    print("\n".join(lines))
    if args.out:
        out = Path(args.out)
        atomic_write_json(out, result)
        atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
