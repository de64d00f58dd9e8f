"""GloVe's epoch time on a quiet and on a loaded CPU, with 1 and with all torch threads.

    python benchmarks/glove_threads.py --out benchmarks/results/glove_threads_cpu.json
    python benchmarks/glove_threads.py --max-lines 5000 --repeat 1      # a quick look

Chapter 03's cpu-preset problem (WikiText-2 train, min_count 5, window 10, dim 100, batches of
4,096 records): one epoch of :meth:`GloVe.fit` timed with ``threads=1`` and with
``threads=os.cpu_count()``, first on a quiet machine, then while another process keeps one core
busy (a pure-Python loop: what a browser or a second kernel does to a learner's laptop). Each
cell is the median of ``--repeat`` epochs. A GloVe batch step is a dozen small tensor operations
on 4,096 records; split over threads, each ends at a barrier where every thread waits for the
slowest, and a thread that shares its core with another process is slow. Writes the table as
JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ptm_course.data.corpus import build_vocab, encode_corpus  # noqa: E402
from ptm_course.embeddings import GloVe, GloVeConfig, cooccurrence_matrix, wikitext_sentences  # noqa: E402
from ptm_course.io import atomic_write_json  # noqa: E402


def _spin(stop) -> None:
    """Keep one core busy until ``stop`` is set (the load)."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def epoch_seconds(vocab, X, threads: int, repeat: int, window: int) -> list[float]:
    model = GloVe(vocab, GloVeConfig(dim=100, window=window, x_max=10.0, epochs=1))
    model.fit(X, epochs=1, progress=False, threads=threads)  # warm-up (allocator, first-call costs)
    return [model.fit(X, epochs=1, progress=False, threads=threads).seconds for _ in range(repeat)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-lines", type=int, default=None, help="WikiText-2 train lines (default: all, as the cpu preset)")
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    sentences = wikitext_sentences("train", max_lines=args.max_lines)
    vocab = build_vocab(sentences, min_count=5)
    corpus = encode_corpus(sentences, vocab)
    X = cooccurrence_matrix(corpus.ids, corpus.sentence, len(vocab), window=args.window)
    print(f"vocabulary {len(vocab):,}, {X.nnz:,} non-zero cells; {cores} cores; median of {args.repeat} epochs", flush=True)
    rows = []
    for load in ("quiet", "one core busy"):
        stop, spinner = mp.Event(), None
        if load != "quiet":
            spinner = mp.Process(target=_spin, args=(stop,), daemon=True)
            spinner.start()
            time.sleep(1.0)
        try:
            for threads in sorted({1, cores}):
                secs = epoch_seconds(vocab, X, threads, args.repeat, args.window)
                rows.append({"load": load, "threads": threads, "seconds_per_epoch": statistics.median(secs),
                             "all_seconds": secs})
                print(f"{load:14s} threads={threads}: {statistics.median(secs):6.2f} s per epoch "
                      f"({', '.join(f'{s:.2f}' for s in secs)})", flush=True)
        finally:
            stop.set()
            if spinner is not None:
                spinner.join()
    by = {(r["load"], r["threads"]): r["seconds_per_epoch"] for r in rows}
    ratios = {load: by[load, cores] / by[load, 1] for load in ("quiet", "one core busy")}
    print("all threads / one thread: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    if args.out is not None:
        atomic_write_json(args.out, {
            "command": "python benchmarks/glove_threads.py" + (f" --max-lines {args.max_lines}" if args.max_lines else ""),
            "machine": f"{platform.machine()}, {cores} cores", "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d"), "nnz": int(X.nnz), "vocab": len(vocab), "repeat": args.repeat,
            "rows": rows, "all_over_one_thread": ratios})


if __name__ == "__main__":
    main()
