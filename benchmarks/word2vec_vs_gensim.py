"""Word2Vec side by side with gensim: same corpus, same settings, same evaluation.

    python benchmarks/word2vec_vs_gensim.py                 # 5 epochs, 2 threads/workers, CBOW + skip-gram
    python benchmarks/word2vec_vs_gensim.py --epochs 1 --threads 1 2 --max-lines 5000   # a quick look

Corpus: WikiText-2 train, lower-cased, one sentence per non-empty line (2.05 M words).
Settings for both: dim 100, window 5, negative sampling with 5 negatives (exponent 0.75),
min_count 5, subsampling 1e-3, alpha 0.025 → 0.0001, the same number of epochs, and
``workers`` (gensim) = ``train(workers=...)`` (ours). Words/s = corpus words × epochs / seconds
spent in ``train`` (vocabulary building excluded for both). Quality: analogy accuracy on Google's
questions-words (3CosAdd, gensim's rules), Spearman ρ on WordSim-353 and SimLex-999 — the same
functions score both models (tests check they agree with gensim's own evaluators).

Ours runs twice per row, with ``train(workers=threads)`` (Hogwild threads, one torch thread
each, like gensim's workers): eager, and with ``Word2VecConfig(compile=True)`` (each batch step
one loop fused by ``torch.compile``; compiling takes seconds, done before the timed run).
``--variants`` picks which.

Writes ``benchmarks/results/word2vec_vs_gensim.{md,json}`` and prints the table.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ptm_course.data import load  # noqa: E402
from ptm_course.embeddings import Embeddings, evaluate_analogies, evaluate_word_pairs  # noqa: E402
from ptm_course.embeddings.word2vec import Word2Vec, Word2VecConfig  # noqa: E402
from ptm_course.io import atomic_write_json, atomic_write_text  # noqa: E402


def corpus(max_lines: int | None) -> list[list[str]]:
    lines = load("wikitext-2", split="train")["text"]
    if max_lines:
        lines = lines[:max_lines]
    return [line.lower().split() for line in lines if line.strip()]


def quality(emb: Embeddings) -> dict[str, float]:
    a = evaluate_analogies(emb)
    return {
        "analogy": 100 * a.accuracy,
        "analogy_questions": a.total,
        "ws353": 100 * evaluate_word_pairs(emb, "wordsim353").spearman,
        "simlex999": 100 * evaluate_word_pairs(emb, "simlex999").spearman,
    }


def run_gensim(sentences, arch: str, epochs: int, threads: int, seed: int) -> dict:
    from gensim.models import Word2Vec as GensimWord2Vec

    model = GensimWord2Vec(vector_size=100, window=5, min_count=5, sample=1e-3, sg=int(arch == "skipgram"),
                           hs=0, negative=5, ns_exponent=0.75, alpha=0.025, min_alpha=1e-4, workers=threads, seed=seed)
    model.build_vocab(sentences)
    t0 = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
    seconds = time.perf_counter() - t0
    words = epochs * model.corpus_total_words
    return {"words_per_s": words / seconds, "seconds": seconds, "vocab": len(model.wv),
            **quality(Embeddings(model.wv.index_to_key, model.wv.vectors))}


def run_ours(sentences, arch: str, epochs: int, threads: int, seed: int, compiled: bool = False) -> dict:
    cfg = Word2VecConfig(arch=arch, loss="negative", dim=100, window=5, negative=5, min_count=5, sample=1e-3,
                         alpha=0.025, min_alpha=1e-4, epochs=epochs, seed=seed, compile=compiled)
    model = Word2Vec.from_sentences(sentences, cfg)
    corpus_ids = model.encode(sentences)
    compile_s = 0.0
    if compiled:  # compile outside the timed run (seconds, once per process): one pass over a few sentences
        t0 = time.perf_counter()
        Word2Vec(model.vocab, cfg).train(sentences[:2000], epochs=1, progress=False, workers=threads)
        compile_s = time.perf_counter() - t0
    report = model.train(corpus_ids, progress=False, workers=threads, threads=1 if threads == 1 else None)
    return {"words_per_s": report.words_per_second, "seconds": report.seconds, "vocab": len(model.vocab),
            "compile_seconds": compile_s, **quality(model.embeddings())}


def markdown(rows: list[dict], meta: dict) -> str:
    out = [
        "# Word2Vec: ptm_course vs gensim",
        "",
        f"WikiText-2 train (lower-cased, {meta['corpus_words']:,} words), dim 100, window 5, negative 5, "
        f"min_count 5, sample 1e-3, {meta['epochs']} epochs. Machine: {meta['machine']}; "
        f"torch {meta['torch']}, gensim {meta['gensim']}; {meta['date']}; load average at start {meta['load_start']}, "
        f"at end {meta['load_end']} (the machine was shared: speeds are only comparable within a row pair).",
        "",
        "| arch | threads | ours | words/s gensim | words/s ours | speed ratio | analogy % gensim | "
        "analogy % ours | Δ | WS353 ρ gensim | WS353 ρ ours | Δ | SimLex ρ gensim | SimLex ρ ours |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        g = r["gensim"]
        for variant in ("eager", "compiled"):
            if variant not in r:
                continue
            o = r[variant]
            out.append(
                f"| {r['arch']} | {r['threads']} | {variant} | {g['words_per_s']:,.0f} | "
                f"{o['words_per_s']:,.0f} | {o['words_per_s'] / g['words_per_s']:.2f}× | {g['analogy']:.1f} | "
                f"{o['analogy']:.1f} | {o['analogy'] - g['analogy']:+.1f} | {g['ws353']:.1f} | {o['ws353']:.1f} | "
                f"{o['ws353'] - g['ws353']:+.1f} | {g['simlex999']:.1f} | {o['simlex999']:.1f} |"
            )
    out += [
        "",
        "ρ values are ×100 (points). Analogy: questions with all four words in the vocabulary "
        f"({rows[0]['gensim']['analogy_questions']:,} of 19,544).",
        "threads: gensim's `workers`, ours `train(workers=...)` (Hogwild threads). `compiled`: "
        "`Word2VecConfig(compile=True)`; compiling took seconds before the timed run and is not counted.",
        "Pre-trained GloVe 6B-50d is not available offline here: that reference row is skipped.",
    ]
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[2])
    p.add_argument("--archs", nargs="+", default=["skipgram", "cbow"], choices=["skipgram", "cbow"])
    p.add_argument("--max-lines", type=int, default=None, help="only the first N lines of the corpus (quick runs)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--variants", nargs="+", default=["eager", "compiled"], choices=["eager", "compiled"])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args()

    import gensim

    sentences = corpus(args.max_lines)
    meta = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "torch": torch.__version__, "gensim": gensim.__version__, "python": platform.python_version(),
        "epochs": args.epochs, "corpus_words": sum(len(s) for s in sentences),
        "load_start": round(os.getloadavg()[0], 2),
    }
    rows = []
    for threads in args.threads:
        for arch in args.archs:
            print(f"{arch}, {threads} thread(s): gensim ...", flush=True)
            g = run_gensim(sentences, arch, args.epochs, threads, args.seed)
            print(f"  gensim {g['words_per_s']:,.0f} words/s, analogy {g['analogy']:.1f} %, WS353 {g['ws353']:.1f}", flush=True)
            row = {"arch": arch, "threads": threads, "gensim": g}
            for variant in args.variants:
                o = run_ours(sentences, arch, args.epochs, threads, args.seed, compiled=variant == "compiled")
                print(f"  ours ({variant}) {o['words_per_s']:,.0f} words/s "
                      f"({o['words_per_s'] / g['words_per_s']:.2f}x), analogy {o['analogy']:.1f} %, WS353 {o['ws353']:.1f}",
                      flush=True)
                row[variant] = {**o, "speed_ratio": o["words_per_s"] / g["words_per_s"]}
            rows.append(row)
    meta["load_end"] = round(os.getloadavg()[0], 2)
    md = markdown(rows, meta)
    print()
    print(md)
    # the full run (5 epochs, whole corpus) owns the main file; other runs get their settings in the name
    stem = "word2vec_vs_gensim"
    if args.epochs != 5 or args.max_lines is not None:
        stem += f"_epochs{args.epochs}" + (f"_lines{args.max_lines}" if args.max_lines else "")
    atomic_write_text(args.out / f"{stem}.md", md)
    atomic_write_json(args.out / f"{stem}.json", {"meta": meta, "rows": rows})
    print(f"written: {args.out / (stem + '.md')} and .json")


if __name__ == "__main__":
    main()
