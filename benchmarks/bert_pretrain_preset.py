"""Chapter 07's pre-training run at a preset's sizes, outside the notebook (for a GPU machine).

    python benchmarks/bert_pretrain_preset.py --preset cpu                      # here: WikiText-2 via ptm_course.data
    python benchmarks/bert_pretrain_preset.py --export .gpudata/bert07.pt       # here: tokenizer + documents in one file
    python benchmarks/bert_pretrain_preset.py --preset cpu --bundle .gpudata/bert07.pt   # a machine without `datasets`

Notebook 07's section 6 with the sizes and hyper-parameters of ``--preset`` (the WordPiece
vocabulary, NSP pairs of 96 tokens at cpu and 128 at gpu, ``BertConfig.small`` (dropout off at
cpu), batch, steps, learning rate, warm-up,
evaluation on the first pairs with fixed masks), so that the curves the notebook describes can
be measured where the notebook's other cells (MiniLM weights, widgets) are not available. The
run's time on the 2-core build machine is in ``benchmarks/README.md`` (on a GPU: bf16 autocast).
Prints the validation metrics at every evaluation and writes them as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ptm_course.data.masking import collate_pretraining, make_nsp_examples  # noqa: E402
from ptm_course.data.wordpiece import special_tokens  # noqa: E402
from ptm_course.io import atomic_write_bytes, atomic_write_json  # noqa: E402
from ptm_course.models.bert import BertConfig, BertForPreTraining, pretraining_loss  # noqa: E402
from ptm_course.train import evaluate, fit  # noqa: E402
from ptm_course.utils import count_params, get_device, set_seed  # noqa: E402

# notebook 07, section 6: what ctx.pick(...) gives for each preset
PRESETS = {
    "cpu": dict(vocab=8000, max_len=96, model=dict(dropout=0.0, attn_dropout=0.0), n_valid=1024, batch=32, steps=1500, lr=5e-4),
    "gpu": dict(vocab=16000, max_len=128, model=dict(d_model=512, n_layers=8, n_heads=8, d_ff=2048), n_valid=2048,
                batch=128, steps=20000, lr=3e-4),
}


def export_bundle(path: Path, vocab: int) -> None:
    from ptm_course.data.wordpiece import wikitext_documents, wikitext_wordpiece

    tok = wikitext_wordpiece(vocab)
    bundle = {"tokenizer": tok.to_str(), "docs": wikitext_documents(tok, "train")}
    buf = io.BytesIO()
    torch.save(bundle, buf)
    atomic_write_bytes(path, buf.getvalue())
    print(f"written {path} ({path.stat().st_size / 1e6:.1f} MB, {len(bundle['docs'])} articles)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--export", type=Path, default=None, help="write tokenizer + documents here and stop")
    p.add_argument("--bundle", type=Path, default=None)
    p.add_argument("--steps", type=int, default=None, help="override the preset's steps (quick checks)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    pr = PRESETS[args.preset]
    if args.export is not None:
        export_bundle(args.export, pr["vocab"])
        return

    from tokenizers import Tokenizer

    if args.bundle is not None:
        bundle = torch.load(args.bundle, weights_only=False)
        tok, docs = Tokenizer.from_str(bundle["tokenizer"]), bundle["docs"]
    else:
        from ptm_course.data.wordpiece import wikitext_documents, wikitext_wordpiece

        tok = wikitext_wordpiece(pr["vocab"])
        docs = wikitext_documents(tok, "train")
    set_seed(0)
    device = get_device(args.device)
    sp = special_tokens(tok)
    V = tok.get_vocab_size()
    examples = make_nsp_examples(docs, max_len=pr["max_len"], special=sp, seed=0)
    cfg = BertConfig.small(vocab_size=V, max_len=pr["max_len"], **pr["model"])
    train_ex, valid_ex = examples[pr["n_valid"]:], examples[: pr["n_valid"]]
    max_pred = round(0.15 * pr["max_len"]) + 1
    loader = DataLoader(train_ex, batch_size=pr["batch"], shuffle=True,
                        collate_fn=lambda b: collate_pretraining(b, sp, V, max_predictions=max_pred))
    valid_batches = [collate_pretraining(valid_ex[i:i + 64], sp, V, generator=torch.Generator().manual_seed(i),
                                         max_predictions=max_pred)
                     for i in range(0, len(valid_ex), 64)]

    model = BertForPreTraining(cfg)
    steps = args.steps or pr["steps"]
    print(f"preset {args.preset}: {len(examples):,} pairs, V={V}, {count_params(model) / 1e6:.2f} M parameters, "
          f"{steps} steps of {pr['batch']} on {device}", flush=True)
    t0 = time.perf_counter()
    history = fit(model, loader, pretraining_loss, max_steps=steps, lr=pr["lr"], weight_decay=0.01,
                  warmup_steps=steps // 10, eval_fn=lambda m: evaluate(m, valid_batches, pretraining_loss),
                  eval_every=max(1, steps // 4),
                  log_every=max(1, steps // 40), device=device, seed=0, progress=False)
    seconds = time.perf_counter() - t0
    for row in history.eval:
        print(f"step {row['step']:6d}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items() if k != "step"), flush=True)
    print(f"uniform guess: mlm_loss {math.log(V):.2f}, nsp_acc 0.5; {seconds:.0f} s on {device}")
    if args.out is not None:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        atomic_write_json(args.out, {"preset": args.preset, "steps": steps, "device": name, "seconds": seconds,
                                     "torch": torch.__version__, "eval": history.eval})


if __name__ == "__main__":
    main()
