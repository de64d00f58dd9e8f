"""Chapter 05's `cpu`-preset comparison at one budget: counts vs NNLM vs LSTM LM on WikiText-2.

Mirrors section 4 of notebooks/05_rnn_lstm.py with the `cpu` preset's sizes (400,000 training
tokens, vocabulary 8,001, 1,000 steps of 20 x 35 tokens, the full validation set) and prints
the validation perplexities the notebook quotes.

    OMP_NUM_THREADS=1 python benchmarks/lm_budget_cpu.py            # all models, minutes on 1 thread
    OMP_NUM_THREADS=1 python benchmarks/lm_budget_cpu.py --only lstm
    OMP_NUM_THREADS=1 python benchmarks/lm_budget_cpu.py --out benchmarks/results/lm_budget_cpu.json

Training is resumable: checkpoints go to --runs (default runs/lm_budget), so an interrupted
run continues where it stopped when started again (a resume restarts the LSTM's carried
hidden state at the resumed batch, the only difference from an uninterrupted run).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from ptm_course.data import Vocab, load, ngram_examples, wikitext_tokens
from ptm_course.embeddings.nnlm import NNLM, NNLMConfig, nnlm_loss
from ptm_course.encoders import BPTTBatches, LSTMLM, LSTMLMConfig, TBPTTLoss, evaluate_lm
from ptm_course.io import atomic_write_json
from ptm_course.metrics import lm_mean_nll, perplexity
from ptm_course.models import CountBigramLM
from ptm_course.train import fit
from ptm_course.utils import count_params, set_seed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["counts", "nnlm", "lstm"], help="run one model only")
    ap.add_argument("--steps", type=int, default=1_000)
    ap.add_argument("--runs", default="runs/lm_budget", help="checkpoint folder (resumable)")
    ap.add_argument("--out", default=None, help="also write the rows as JSON here (atomically)")
    args = ap.parse_args()

    set_seed(0)
    wiki = load("wikitext-2")
    train = wikitext_tokens(wiki["train"]["text"])[:400_000]
    valid = wikitext_tokens(wiki["validation"]["text"])
    vocab = Vocab.build([train], min_count=3, max_size=8_000)
    train_ids = torch.tensor(vocab.encode(train))
    valid_ids = torch.tensor(vocab.encode(valid))
    V = len(vocab)
    print(f"vocabulary {V:,}; {len(train_ids):,} training and {len(valid_ids):,} validation tokens")
    rows: list[tuple[str, str, float, float]] = []
    steps = args.steps

    if args.only in (None, "counts"):
        for name, lam in (("unigram (counts)", 0.0), ("bigram, interpolated λ = 0.7", 0.7)):
            rows.append((name, "—", CountBigramLM.fit(train_ids, V, smoothing="interpolate", lam=lam).perplexity(valid_ids), 0.0))
    if args.only in (None, "nnlm"):
        t = time.time()
        x, y = ngram_examples(train_ids, 4)
        xv, yv = ngram_examples(valid_ids, 4)
        nnlm = NNLM(NNLMConfig(V, context=4, d_emb=64, d_hidden=128))
        fit(nnlm, DataLoader(TensorDataset(x, y), batch_size=700, shuffle=True), nnlm_loss, max_steps=steps,
            lr=1e-2, warmup_steps=steps // 20, device="cpu", progress=False, seed=0,
            checkpoint_dir=f"{args.runs}/nnlm", checkpoint_every=100, resume=True)
        rows.append(("NNLM, 4-word window", f"{count_params(nnlm):,}", perplexity(lm_mean_nll(nnlm, xv, yv)), time.time() - t))
    if args.only in (None, "lstm"):
        t = time.time()
        lm = LSTMLM(LSTMLMConfig(V, d_model=256, d_hidden=256, n_layers=1, dropout=0.0))
        fit(lm, BPTTBatches(train_ids, 20, 35), TBPTTLoss(), max_steps=steps, lr=1e-2,
            warmup_steps=steps // 20, grad_clip=0.25, device="cpu", progress=False, seed=0,
            checkpoint_dir=f"{args.runs}/lstm", checkpoint_every=100, resume=True)
        rows.append(("LSTM LM, 1 x 256", f"{count_params(lm):,}", perplexity(evaluate_lm(lm, valid_ids)), time.time() - t))

    print("\n| model | parameters | validation perplexity | seconds |\n|---|---|---|---|")
    for name, params, ppl, secs in rows:
        print(f"| {name} | {params} | {ppl:.1f} | {secs:.0f} |")
    if args.out:
        atomic_write_json(args.out, {
            "command": "OMP_NUM_THREADS=1 python benchmarks/lm_budget_cpu.py", "steps": steps, "vocab": V,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d"), "threads": torch.get_num_threads(),
            "rows": [{"model": name, "parameters": params, "valid_ppl": ppl, "seconds": secs}
                     for name, params, ppl, secs in rows]})


if __name__ == "__main__":
    main()
