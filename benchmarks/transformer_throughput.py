"""MLM training-step throughput: the course's BERT vs Hugging Face transformers, side by side.

    python benchmarks/transformer_throughput.py                        # GPU: BERT-base, batch 128 x 128
    python benchmarks/transformer_throughput.py --device cpu --small   # CPU: a small shape, minutes
    python benchmarks/transformer_throughput.py --out benchmarks/results/transformer_throughput_gpu.md

Same configuration (converted with ``bert_config_to_hf``), same random-init weights (copied),
same batches (random token ids, 15 % masked with the course's ``mask_tokens``), same optimizer
(AdamW, fused on CUDA), bf16 autocast on GPUs that support it. One training step = forward,
loss, backward, optimizer step. Rows:

* ``hf``: ``transformers.BertForMaskedLM`` (SDPA attention) with ``labels=``: logits at every position;
* ``course``: ``BertForMaskedLM`` + ``mlm_loss``: the vocabulary projection only at masked positions;
* ``course (all positions)``: the same model, logits at every position (the like-for-like row);
* ``course, no attention mask`` (eager, and compiled when named in ``--rows``): ``course`` called with ``attention_mask=None``: the
  batches have no padding, and without a mask SDPA may pick the FlashAttention kernel (HF drops an
  all-ones mask itself);
* ``course, static positions``: ``course`` with the original BERT's fixed-width masked positions
  (``mlm_positions``, ``max_predictions_per_seq`` = ``--max-predictions``, default
  round(0.15 · T) + 1), built with the batches like every other input. Every shape is static, so
  compiled, the whole loss (encoder, gather, head, cross-entropy) is one graph with no host sync;
  and the last layer runs only for [CLS] and those positions (its keys and values for all), which
  gives the same loss: nothing else of the last layer reaches it;
* ``course, static positions, fp32 norms`` (with ``--rows``): the same, with every LayerNorm
  handing back float32 under autocast as ``nn.LayerNorm`` (and HF's BERT) does, instead of the
  course's ``LayerNorm``, which rounds its output to bf16: the residual stream in float32;
* ``course, loss compiled`` (compiled only, with ``--rows``): ``torch.compile`` of the whole
  ``mlm_loss`` (encoder, the masked-position gather, head and loss in one graph; dynamic
  output shapes captured) instead of compiling the encoder and the head separately;

each eager and, with ``--compile`` (default on CUDA), under ``torch.compile`` with
``--compile-mode`` (the same mode for every row, HF's included). Every row of a mode is built
and warmed up first, then timed in ``--repeat`` rounds (default 3 on CUDA), each round timing
every row once, so that clock or load drift reaches all rows alike; a row reports the median
round and the range, and "vs HF" is the median of its per-round ratios to ``hf`` (printed to
three decimals: a ratio is compared with targets such as 1.4×). Tokens/s counts
every input token (batch x sequence). MFU = achieved model FLOP/s / peak, with model FLOPs per
token = 6·N (non-embedding matmul parameters) + 12·L·H·T (attention) + 6·(H² + H·V)·p (the MLM
head on a fraction p of the positions: 1 for rows with all positions, the mask rate for
``course``), counting for ``course, static positions`` only the part of the last layer it runs; the
peak is the card's bf16 dense figure (H100/H200: 989 TFLOP/s) or ``--peak-tflops``. The column
"MFU 6N" is the plain convention 6 · N · tokens/s / peak with N = every parameter of the HF model
(embeddings included), the same N for every row: a row that skips work (``course``) scores higher
on it than the FLOPs it really ran.
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

from ptm_course.data.masking import SpecialTokens, mask_tokens, masked_positions  # noqa: E402
from ptm_course.models.bert import BertConfig, BertForMaskedLM, mlm_loss  # noqa: E402
from ptm_course.models.hf_loading import bert_config_to_hf, load_hf_weights  # noqa: E402
from ptm_course.models.transformer import LayerNorm  # noqa: E402
from ptm_course.utils import amp_dtype  # noqa: E402

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "T4": 65.0, "A10": 125.0}


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    if override is not None:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def flops_per_token(cfg: BertConfig, T: int, decoder_fraction: float, last_layer_fraction: float = 1.0) -> float:
    """Training FLOPs per input token that the step runs: 6 per multiply-add weight, forward + backward.

    ``decoder_fraction``: share of positions through the MLM head (transform + vocabulary);
    ``last_layer_fraction``: share of positions the last layer runs for (its keys and values
    always run for every position).
    """
    L, H, F, V = cfg.n_layers, cfg.d_model, cfg.d_ff, cfg.vocab_size
    layer = 4 * H * H + 2 * H * F  # QKV + output projection + FFN
    last = 2 * H * H + last_layer_fraction * (2 * H * H + 2 * H * F)  # K, V for all; Q, O, FFN for the rest
    attention = 12 * H * T * (L - 1 + last_layer_fraction)  # Q·Kᵀ and A·V
    return 6 * ((L - 1) * layer + last) + attention + 6 * (H * H + H * V) * decoder_fraction


def make_batches(cfg: BertConfig, B: int, T: int, n: int, device: torch.device, max_predictions: int,
                 seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    sp = SpecialTokens(pad=0, unk=100, cls=101, sep=102, mask=103)
    out = []
    for _ in range(n):
        ids = torch.randint(1000, cfg.vocab_size, (B, T), generator=g)
        ids[:, 0], ids[:, -1] = sp.cls, sp.sep
        masked, labels = mask_tokens(ids, sp, cfg.vocab_size, generator=g)
        out.append({
            "input_ids": masked.to(device), "token_type_ids": torch.zeros_like(masked).to(device),
            "attention_mask": torch.ones_like(masked).to(device), "mlm_labels": labels.to(device),
            "mlm_positions": masked_positions(labels, max_predictions).to(device),
        })
    return out


def profile_steps(step, batches: list[dict], n: int, path: Path) -> str:
    """Kernel time by op over ``n`` steps, and how busy the GPU was (sum of kernel times / wall time)."""
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for i in range(n):
            step(batches[i % len(batches)])
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy = sum(e.time_range.elapsed_us() for e in kernels) / 1e6  # µs -> s (overlapping streams would count twice)
    head = (f"{n} steps, {1000 * wall / n:.1f} ms/step under the profiler; kernels {1000 * busy / n:.1f} ms/step "
            f"({100 * busy / wall:.0f} % of wall time), {len(kernels) / n:.0f} kernel launches/step\n")
    table = prof.key_averages().table(sort_by="self_device_time_total", row_limit=30)
    path.write_text(head + table, encoding="utf-8")
    return head


def warm_up(step, batches: list[dict], n: int) -> None:
    """``n`` untimed steps (compilation and autotuning happen here)."""
    for i in range(n):
        step(batches[i % len(batches)])


def time_steps(step, batches: list[dict], steps: int, device: torch.device) -> float:
    """Seconds per step over ``steps`` steps."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for i in range(steps):
        step(batches[i % len(batches)])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--small", action="store_true", help="a small shape for CPU (4 layers, H=256, batch 8 x 64)")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--seq", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--compile", dest="compile", action="store_true", default=None, help="also torch.compile (default: on CUDA)")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--modes", nargs="+", choices=["eager", "compiled"], default=["eager", "compiled"],
                    help="which modes to run (compiled only with --compile, the default on CUDA)")
    ap.add_argument("--compile-mode", default="default",
                    help="torch.compile mode for every compiled row: default | reduce-overhead | max-autotune | "
                         "max-autotune-no-cudagraphs")
    ap.add_argument("--max-predictions", type=int, default=None,
                    help="width of mlm_positions for the static-positions row (default round(0.15 T) + 1)")
    ap.add_argument("--profile", nargs="*", default=None,
                    help="(CUDA) also profile these rows ('model/mode', e.g. 'course, static positions/compiled') "
                         "and write a kernel table next to --out")
    ap.add_argument("--repeat", type=int, default=None,
                    help="rounds of timed steps per row, rows interleaved (default 3 on CUDA, 1 on CPU)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="peak FLOP/s of the device for MFU")
    ap.add_argument("--out", default=None, help="write the markdown table here too")
    ap.add_argument("--rows", nargs="+", default=None,
                    help="only these rows (names as in the table), e.g. hf course 'course, loss compiled'")
    args = ap.parse_args()

    import transformers

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if args.small:
        cfg = BertConfig.small(vocab_size=30522, max_len=512, dropout=0.0, attn_dropout=0.0)
        B, T = args.batch or 8, args.seq or 64
        steps, warmup = args.steps or 5, args.warmup or 2
    else:
        cfg = BertConfig.base(dropout=0.0, attn_dropout=0.0)
        B, T = args.batch or 128, args.seq or 128
        steps, warmup = args.steps or 20, args.warmup or 5
    known = ["hf", "course", "course, static positions", "course (all positions)",
             "course, no attention mask", "course, static positions, fp32 norms", "course, loss compiled"]
    unknown = [k for k in args.rows or [] if k not in known]
    if unknown:
        ap.error(f"unknown rows {unknown}; choose from {known}")
    do_compile = device.type == "cuda" if args.compile is None else args.compile
    if args.repeat is None:
        args.repeat = 3 if device.type == "cuda" else 1
    if args.repeat < 1 or steps < 1:
        ap.error(f"--repeat and --steps must be at least 1 (got {args.repeat} and {steps})")
    use_bf16 = amp_dtype(device) == torch.bfloat16  # native bf16 only (not a T4's emulated one)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    peak = peak_tflops(device, args.peak_tflops)
    max_pred = args.max_predictions or round(0.15 * T) + 1
    batches = make_batches(cfg, B, T, n=4, device=device, max_predictions=max_pred)
    mask_rate = float(sum((b["mlm_labels"] != -100).float().mean() for b in batches) / len(batches))

    def build(kind: str):
        torch.manual_seed(0)
        hf = transformers.BertForMaskedLM(transformers.BertConfig(**bert_config_to_hf(cfg), attn_implementation="sdpa")).to(device)
        if kind == "hf":
            return hf
        ours = BertForMaskedLM(cfg)
        load_hf_weights(ours, hf.state_dict())  # the very same weights
        if kind == "course, static positions, fp32 norms":
            for m in ours.modules():
                if isinstance(m, LayerNorm):
                    m.__class__ = torch.nn.LayerNorm  # same parameters; float32 output under autocast
        return ours.to(device)

    n_params = sum(p.numel() for p in build("hf").parameters())  # unique parameters (tied ones once)

    def make_step(kind: str, model, compiled: bool):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, fused=device.type == "cuda" or None)
        mode = args.compile_mode

        def dense(b):  # the batch without the static-positions row's extra input
            return {k: v for k, v in b.items() if k != "mlm_positions"}
        if compiled and kind == "course, loss compiled":
            torch._dynamo.config.capture_dynamic_output_shape_ops = True  # h[labels != -100] inside the graph
            compiled_loss = torch.compile(lambda b: mlm_loss(model, dense(b))[0], mode=mode)
        elif compiled and kind.startswith("course, static positions"):  # one graph: encoder, gather, head, loss
            compiled_loss = torch.compile(lambda b: mlm_loss(model, b)[0], mode=mode)
        elif compiled:  # nn.Module.compile(): in place, so the loss functions below call compiled code
            if kind == "course":
                model.bert.compile(mode=mode)
                model.mlm.compile(mode=mode)
            else:
                model.compile(mode=mode)

        if kind == "hf":
            def loss_of(b):
                return model(input_ids=b["input_ids"], token_type_ids=b["token_type_ids"],
                             attention_mask=b["attention_mask"], labels=b["mlm_labels"]).loss
        elif kind == "course":
            def loss_of(b):
                return mlm_loss(model, dense(b))[0]
        elif kind == "course, loss compiled" or kind.startswith("course, static positions"):
            def loss_of(b):
                if compiled:
                    return compiled_loss(b)
                return mlm_loss(model, dense(b) if kind == "course, loss compiled" else b)[0]
        elif kind == "course, no attention mask":
            def loss_of(b):
                return mlm_loss(model, {k: v for k, v in dense(b).items() if k != "attention_mask"})[0]
        else:  # course, logits at all positions
            def loss_of(b):
                logits = model(b["input_ids"], b["token_type_ids"], b["attention_mask"])
                return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), b["mlm_labels"].flatten())

        def step(b):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss = loss_of(b)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            return loss

        return step

    rows = []
    for compiled in [c for c in ([False, True] if do_compile else [False]) if ("compiled" if c else "eager") in args.modes]:
        mode_name = "compiled" if compiled else "eager"
        kinds = list(args.rows) if args.rows is not None else (  # --rows: in the order given
            ["hf", "course", "course, static positions", "course (all positions)"]
            + ([] if compiled else ["course, no attention mask"]))
        # Every row of this mode is built and warmed up (compiled) first; then the timed runs go
        # round by round, each round timing every row once, so a drift of the card's clocks or of
        # the machine's load during the run reaches all rows alike. Per row: the median over the
        # rounds; "vs HF": the median of the per-round ratios (a paired comparison).
        steps_of = {}
        for kind in kinds:
            model = build(kind).train()
            steps_of[kind] = make_step(kind, model, compiled)
            warm_up(steps_of[kind], batches, warmup)
            tag = f"{kind}/{mode_name}"
            if args.profile is not None and tag in args.profile and device.type == "cuda":
                name = "".join(c if c.isalnum() else "_" for c in tag)
                where = Path(args.out or "transformer_throughput.md").with_name(f"profile_{name}.txt")
                try:
                    print("  profile:", profile_steps(steps_of[kind], batches, 3, where).strip(), f"-> {where}", flush=True)
                except Exception as exc:  # a diagnostic: keep the timed rows even if the profiler fails
                    print(f"  profile failed: {type(exc).__name__}: {exc}", flush=True)
        secs = {kind: [] for kind in kinds}
        for r in range(args.repeat):
            for kind in kinds:
                secs[kind].append(time_steps(steps_of[kind], batches, steps, device))
                print(f"{kind:24s} {mode_name:8s} round {r + 1}/{args.repeat} "
                      f"{B * T / secs[kind][-1]:12,.0f} tokens/s  {1000 * secs[kind][-1]:8.1f} ms/step", flush=True)
        for kind in kinds:
            sec = statistics.median(secs[kind])
            tok_s = B * T / sec
            static = kind.startswith("course, static positions")
            frac = max_pred / T if static else (mask_rate if kind.startswith("course,") or kind == "course" else 1.0)
            last = (1 + max_pred) / T if static else 1.0  # + [CLS]
            achieved = tok_s * flops_per_token(cfg, T, frac, last)
            rounds = [B * T / s for s in secs[kind]]
            ratio = statistics.median(hf / own for hf, own in zip(secs["hf"], secs[kind])) if "hf" in secs else None
            rows.append({"model": kind, "mode": mode_name, "tokens/s": tok_s, "min": min(rounds), "max": max(rounds),
                         "ms/step": 1000 * sec, "TFLOP/s": achieved / 1e12,
                         "MFU": None if peak is None else achieved / (peak * 1e12),
                         "MFU 6N": None if peak is None else 6 * n_params * tok_s / (peak * 1e12), "vs HF": ratio})
        del steps_of
        if device.type == "cuda":
            torch.cuda.empty_cache()

    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    lines = [
        "# MLM training step: course BERT vs HF transformers",
        "",
        f"- device: {dev_name}; torch {torch.__version__}; transformers {transformers.__version__}; "
        f"precision: {'bf16 autocast' if use_bf16 else 'fp32'}",
        f"- shape: L={cfg.n_layers}, H={cfg.d_model}, heads={cfg.n_heads}, FFN={cfg.d_ff}, V={cfg.vocab_size}; "
        f"batch {B} x sequence {T}; masked fraction {mask_rate:.3f}; static positions: {max_pred} per sequence; "
        f"{warmup} warm-up + {args.repeat} rounds of {steps} timed steps" +
        (f"; compile mode {args.compile_mode}" if do_compile else ""),
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- peak for MFU: {'n/a (CPU)' if peak is None else f'{peak:.0f} TFLOP/s bf16 dense'}; "
        f"N = {n_params:,} parameters (HF model) for MFU 6N",
        "- tokens/s, ms/step: the median over the rounds (min–max: the rounds' range); vs HF: the median of the "
        "per-round ratios to the hf row of the same mode",
        "",
        "| model | mode | tokens/s | min–max | ms/step | model TFLOP/s | MFU | MFU 6N | vs HF (same mode) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = "n/a" if r["vs HF"] is None else f"{r['vs HF']:.3f}x"
        mfu = "n/a" if r["MFU"] is None else f"{100 * r['MFU']:.1f} %"
        mfu6 = "n/a" if r["MFU 6N"] is None else f"{100 * r['MFU 6N']:.1f} %"
        lines.append(f"| {r['model']} | {r['mode']} | {r['tokens/s']:,.0f} | {r['min']:,.0f}–{r['max']:,.0f} | "
                     f"{r['ms/step']:.1f} | {r['TFLOP/s']:.3f} | {mfu} | {mfu6} | {ratio} |")
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
