"""Word2Vec on a GPU against gensim's 2-core speed and quality (issue target: at least 10x the words/s).

    python benchmarks/word2vec_gpu.py                                   # on a GPU machine with the course installed
    python benchmarks/word2vec_gpu.py --export .gpudata/w2v.json.gz     # here: corpus + evaluation sets in one file
    python benchmarks/word2vec_gpu.py --bundle .gpudata/w2v.json.gz     # there: no `datasets` / gensim needed

The gensim reference is not rerun here: a GPU machine's many cores say nothing about the 2-core
figure the target names. It is read from ``benchmarks/results/word2vec_vs_gensim.json`` (written by
``word2vec_vs_gensim.py`` on the 2-core machine: same corpus, same settings, same evaluation),
row ``threads == 2``. Ours runs with the same settings (dim 100, window 5, negative 5, min_count 5,
sample 1e-3, alpha 0.025 -> 0.0001, 5 epochs) for each ``--configs`` entry, ``BATCH`` or
``BATCH:MAX_REPEATS``: larger batches mean fewer kernel launches and more stale updates per
batch; ``max_repeats`` caps the summed update of a word repeated in a batch (without it, large
batches diverge). Quality is reported for each.
Writes ``benchmarks/results/word2vec_gpu.{md,json}`` (``--out``).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ptm_course.embeddings import evaluate_analogies, evaluate_word_pairs  # noqa: E402
from ptm_course.embeddings.word2vec import Word2Vec, Word2VecConfig  # noqa: E402
from ptm_course.io import atomic_write_bytes, atomic_write_json, atomic_write_text  # noqa: E402

EVAL_COLUMNS = {"questions-words": ("section", "a", "b", "c", "d"), "wordsim353": ("word1", "word2", "score"),
                "simlex999": ("word1", "word2", "score")}


def export_bundle(path: Path) -> None:
    """Write the corpus (WikiText-2 train lines) and the three evaluation sets as one gzipped JSON."""
    from ptm_course.data import load

    bundle = {"wikitext-2/train": list(load("wikitext-2", split="train")["text"])}
    for name, cols in EVAL_COLUMNS.items():
        ds = load(name)
        bundle[name] = {c: list(ds[c]) for c in cols}
    atomic_write_bytes(path, gzip.compress(json.dumps(bundle).encode("utf-8")))
    print(f"written {path} ({path.stat().st_size / 1e6:.1f} MB)")


def load_data(bundle: Path | None) -> tuple[list[list[str]], dict]:
    if bundle is None:
        from ptm_course.data import load

        lines = load("wikitext-2", split="train")["text"]
        evals = {name: load(name) for name in EVAL_COLUMNS}
    else:
        with gzip.open(bundle, "rt", encoding="utf-8") as f:
            data = json.load(f)
        lines = data["wikitext-2/train"]
        evals = {name: data[name] for name in EVAL_COLUMNS}
    return [line.lower().split() for line in lines if line.strip()], evals


def quality(emb, evals: dict) -> dict[str, float]:
    return {
        "analogy": 100 * evaluate_analogies(emb, evals["questions-words"]).accuracy,
        "ws353": 100 * evaluate_word_pairs(emb, evals["wordsim353"]).spearman,
        "simlex999": 100 * evaluate_word_pairs(emb, evals["simlex999"]).spearman,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--export", type=Path, default=None, help="write the data bundle here and stop")
    p.add_argument("--bundle", type=Path, default=None, help="read corpus and evaluation sets from this bundle")
    p.add_argument("--device", default="cuda")
    p.add_argument("--archs", nargs="+", default=["skipgram", "cbow"], choices=["skipgram", "cbow"])
    p.add_argument("--configs", nargs="+", default=["4096", "16384:64", "65536:64"],
                   help="BATCH or BATCH:MAX_REPEATS, one run per entry and architecture")
    p.add_argument("--chunk-words", type=int, default=500_000)
    p.add_argument("--compile", action="store_true", help="Word2VecConfig(compile=True): fused batch steps")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--reference", type=Path, default=ROOT / "benchmarks" / "results" / "word2vec_vs_gensim.json")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = p.parse_args()
    if args.export is not None:
        export_bundle(args.export)
        return

    ref = json.loads(args.reference.read_text(encoding="utf-8"))
    gensim_rows = {r["arch"]: r["gensim"] for r in ref["rows"] if r["threads"] == 2}
    missing = [a for a in args.archs if a not in gensim_rows]
    if missing:
        raise SystemExit(f"{args.reference} has no 2-thread gensim row for {missing}: run "
                         "`python benchmarks/word2vec_vs_gensim.py --epochs 5 --threads 1 2` first")
    device = torch.device(args.device)
    sentences, evals = load_data(args.bundle)
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"

    configs = []
    for c in args.configs:
        batch, _, cap = c.partition(":")
        configs.append((int(batch), int(cap) if cap else None))
    rows, warmed = [], False
    for arch in args.archs:
        for batch, cap in configs:
            cfg = Word2VecConfig(arch=arch, loss="negative", dim=100, window=5, negative=5, min_count=5, sample=1e-3,
                                 alpha=0.025, min_alpha=1e-4, epochs=args.epochs, seed=1, batch_size=batch,
                                 max_repeats=cap, chunk_words=args.chunk_words, compile=args.compile)
            model = Word2Vec.from_sentences(sentences, cfg, device=device)
            corpus = model.encode(sentences)
            if not warmed or args.compile:  # untimed: CUDA context, kernels, allocator, compilation
                Word2Vec(model.vocab, cfg, device=device).train(sentences[:2000], epochs=1, progress=False)
                warmed = True
            try:
                report = model.train(corpus, progress=False)
            except FloatingPointError as e:
                print(f"{arch:9s} batch {batch:6d} max_repeats {cap}: {e}", flush=True)
                rows.append({"arch": arch, "batch_size": batch, "max_repeats": cap, "diverged": str(e)})
                continue
            q = quality(model.embeddings(), evals)
            g = gensim_rows[arch]
            rows.append({"arch": arch, "batch_size": batch, "max_repeats": cap, "words_per_s": report.words_per_second,
                         "seconds": report.seconds, "speedup_vs_gensim_2core": report.words_per_second / g["words_per_s"],
                         **q, "gensim": {k: g[k] for k in ("words_per_s", "analogy", "ws353", "simlex999")}})
            r = rows[-1]
            print(f"{arch:9s} batch {batch:6d} max_repeats {cap}: {r['words_per_s']:12,.0f} words/s ({r['speedup_vs_gensim_2core']:5.1f}x gensim 2-core), "
                  f"analogy {r['analogy']:.1f} (gensim {g['analogy']:.1f}), WS353 {r['ws353']:.1f} (gensim {g['ws353']:.1f})", flush=True)

    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "device": dev_name, "torch": torch.__version__,
            "epochs": args.epochs, "chunk_words": args.chunk_words, "reference": str(args.reference.relative_to(ROOT))
            if args.reference.is_relative_to(ROOT) else str(args.reference), "reference_date": ref["meta"]["date"],
            "command": " ".join(["python", *sys.argv])}
    lines = [
        "# Word2Vec on a GPU vs gensim on 2 CPU cores",
        "",
        f"- device: {dev_name}; torch {torch.__version__}; {meta['date']}; command: `{meta['command']}`",
        f"- WikiText-2 train, dim 100, window 5, negative 5, min_count 5, sample 1e-3, {args.epochs} epochs, "
        f"{args.chunk_words:,} corpus words per chunk; batch steps {'compiled (torch.compile)' if args.compile else 'eager'}",
        f"- gensim reference: 2 workers, from `{meta['reference']}` ({ref['meta']['date']}, {ref['meta']['machine']})",
        "",
        "| arch | batch | max_repeats | words/s ours | words/s gensim (2 cores) | speed-up | analogy % ours / gensim | "
        "WS353 ρ ours / gensim | SimLex ρ ours / gensim |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "diverged" in r:
            lines.append(f"| {r['arch']} | {r['batch_size']:,} | {r['max_repeats']} | diverged | | | | | |")
            continue
        g = r["gensim"]
        lines.append(f"| {r['arch']} | {r['batch_size']:,} | {r['max_repeats']} | {r['words_per_s']:,.0f} | {g['words_per_s']:,.0f} | "
                     f"{r['speedup_vs_gensim_2core']:.1f}× | {r['analogy']:.1f} / {g['analogy']:.1f} | "
                     f"{r['ws353']:.1f} / {g['ws353']:.1f} | {r['simlex999']:.1f} / {g['simlex999']:.1f} |")
    md = "\n".join(lines) + "\n"
    print("\n" + md)
    stem = "word2vec_gpu_compiled" if args.compile else "word2vec_gpu"
    atomic_write_text(args.out / f"{stem}.md", md)
    atomic_write_json(args.out / f"{stem}.json", {"meta": {**meta, "compile": args.compile}, "rows": rows})


if __name__ == "__main__":
    main()
