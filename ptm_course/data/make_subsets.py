"""How the small shipped subsets in ``ptm_course/data/files/`` were made (run once, by maintainers).

    pip download --no-deps bigbench==1.0.0 -d /tmp/bb          # 358 MB sdist, once
    tar xzf /tmp/bb/bigbench-1.0.0.tar.gz -C /tmp/bb
    python -m ptm_course.data.make_subsets /tmp/bb/bigbench-1.0.0/bigbench/benchmark_tasks

Two files, each gzip-compressed JSON that keeps the BIG-bench canary string of its source:

* ``vitaminc_subset.json.gz`` — 3,000 VitaminC claim/evidence pairs (Schuster et al. 2021,
  CC BY-SA 3.0) drawn uniformly at random (seed 0) from BIG-bench's
  ``vitaminc_fact_verification/task.json`` (54,668 pairs). Each example:
  ``{"evidence": "Title: sentence", "claim": ..., "label": "SUPPORTS" | "REFUTES" | "NOT ENOUGH INFO"}``.
* ``squad_shifts_subset.json.gz`` — SQuADShifts "New Wikipedia" (Miller et al. 2020, CC BY 4.0)
  in SQuAD v1.1 format: the paragraphs of ``squad_shifts/new_wiki_v1.0.json`` with at most 600
  characters, shuffled (seed 0), whole paragraphs kept until 2,000 questions are collected.

The output is deterministic (fixed seeds, sorted keys, gzip mtime 0), so the SHA-256 values in
:mod:`ptm_course.data.sets_bert` can be re-derived from the archive.
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path

VITAMINC_N = 3000
SQUAD_N = 2000
SQUAD_MAX_CONTEXT = 600
_LABELS = {"True": "SUPPORTS", "False": "REFUTES", "Neither": "NOT ENOUGH INFO"}


def _write_gz_json(obj: dict, path: Path) -> None:
    raw = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    with open(path, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(raw)


def vitaminc_subset(task_json: Path, n: int = VITAMINC_N, seed: int = 0) -> dict:
    task = json.loads(task_json.read_text(encoding="utf-8"))
    examples = []
    for ex in task["examples"]:
        evidence, sep, claim = ex["input"].partition("\nClaim: ")
        if not sep:
            continue
        (label,) = [k for k, v in ex["target_scores"].items() if v == 1]
        examples.append({"evidence": evidence.strip(), "claim": claim.strip(), "label": _LABELS[label]})
    picked = sorted(random.Random(seed).sample(range(len(examples)), n))
    return {
        "canary": task["canary"],
        "source": "BIG-bench 1.0.0 (PyPI bigbench==1.0.0) benchmark_tasks/vitaminc_fact_verification/task.json",
        "license": "CC BY-SA 3.0 (VitaminC, Schuster et al. 2021)",
        "subset": f"{n} of {len(examples)} pairs, uniform at random with random.Random({seed})",
        "examples": [examples[i] for i in picked],
    }


def squad_shifts_subset(squad_json: Path, n: int = SQUAD_N, max_context: int = SQUAD_MAX_CONTEXT, seed: int = 0) -> dict:
    src = json.loads(squad_json.read_text(encoding="utf-8"))
    paragraphs = [(art["title"], p) for art in src["data"] for p in art["paragraphs"] if len(p["context"]) <= max_context]
    random.Random(seed).shuffle(paragraphs)
    by_title: dict[str, list] = {}
    count = 0
    for title, p in paragraphs:
        if count >= n:
            break
        qas = [q for q in p["qas"] if q["answers"]]
        by_title.setdefault(title, []).append({"context": p["context"], "qas": qas})
        count += len(qas)
    return {
        "canary": src["canary"],
        "version": src.get("version", "1.0"),
        "source": "BIG-bench 1.0.0 (PyPI bigbench==1.0.0) benchmark_tasks/squad_shifts/new_wiki_v1.0.json",
        "license": "CC BY 4.0 (SQuADShifts, Miller et al. 2020)",
        "subset": f"paragraphs with <= {max_context} characters, shuffled with random.Random({seed}), "
        f"whole paragraphs until {n} questions ({count} kept)",
        "data": [{"title": t, "paragraphs": ps} for t, ps in by_title.items()],
    }


def main(tasks_dir: str) -> None:
    tasks = Path(tasks_dir)
    out = Path(__file__).parent / "files"
    out.mkdir(exist_ok=True)
    _write_gz_json(vitaminc_subset(tasks / "vitaminc_fact_verification" / "task.json"), out / "vitaminc_subset.json.gz")
    _write_gz_json(squad_shifts_subset(tasks / "squad_shifts" / "new_wiki_v1.0.json"), out / "squad_shifts_subset.json.gz")
    from ..io import sha256_file

    for p in sorted(out.glob("*.json.gz")):
        print(f"{p.name}: {p.stat().st_size:,} bytes, sha256 {sha256_file(p)}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
