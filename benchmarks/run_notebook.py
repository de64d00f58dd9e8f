"""Run a chapter notebook end to end at a preset, as a learner would; keep its runtime and its numbers.

    python benchmarks/run_notebook.py notebooks/10_gpt.ipynb --preset cpu
    python benchmarks/run_notebook.py notebooks/10_gpt.ipynb --preset smoke --save-executed /tmp/10.ipynb

The notebook runs in a fresh kernel of this Python (nbclient), with ``PTM_PRESET`` set and default
threads. Two files come out, both written atomically:

* ``benchmarks/results/notebooks/NAME_PRESET.json`` — every number the notebook recorded with
  ``ptm_course.notebook.record`` (the figures its text quotes; a test checks the text against it);
* ``benchmarks/results/notebook_runtimes.json`` — the end-to-end wall time of each chapter at
  each preset it was run at, with the command and the machine (what the README's table quotes).

A failing cell stops the run with the cell's error, and neither file is written; with
``--save-executed`` the notebook as far as it ran (outputs and per-cell timing up to the failing
cell, its traceback included) is still saved there, so a long failed run can be read, not rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ptm_course.io import atomic_write_json, atomic_write_text  # noqa: E402
from ptm_course.notebook import RESULTS_ENV  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
RUNTIMES = RESULTS / "notebook_runtimes.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebook", type=Path)
    ap.add_argument("--preset", choices=["smoke", "cpu", "gpu"], required=True)
    ap.add_argument("--save-executed", type=Path, default=None, help="also write the executed notebook here")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = ap.parse_args()
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    if not args.notebook.exists() or args.notebook.suffix != ".ipynb":
        ap.error(f"{args.notebook} is not a notebook (.ipynb)")
    name = args.notebook.stem
    nb = nbformat.read(args.notebook, as_version=4)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".json")
    os.close(fd)
    os.unlink(tmp)  # the notebook creates it with its first record()
    os.environ.update({"PTM_PRESET": args.preset, RESULTS_ENV: tmp, "MPLBACKEND": "Agg"})
    client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(args.notebook.parent.resolve())}})
    t0 = time.time()
    try:
        client.execute()
    except CellExecutionError as err:
        print(f"{args.notebook} failed after {time.time() - t0:.0f} s:\n{err}", file=sys.stderr)
        if args.save_executed:
            save(nb, args.save_executed)
            print(f"the notebook as far as it ran: {args.save_executed}", file=sys.stderr)
        sys.exit(1)
    seconds = time.time() - t0
    recorded = json.loads(Path(tmp).read_text(encoding="utf-8")) if Path(tmp).exists() else {}
    Path(tmp).unlink(missing_ok=True)
    command = shlex.join(["python", "benchmarks/run_notebook.py", str(args.notebook), "--preset", args.preset])
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    stamp = time.strftime("%Y-%m-%d")
    if recorded:
        atomic_write_json(RESULTS / "notebooks" / f"{name}_{args.preset}.json",
                          {"notebook": str(args.notebook), "preset": args.preset, "command": command,
                           "machine": machine, "date": stamp, "seconds": round(seconds, 1), "values": recorded})
    runtimes = json.loads(RUNTIMES.read_text(encoding="utf-8")) if RUNTIMES.exists() else {}
    runtimes.setdefault(name, {})[args.preset] = {"seconds": round(seconds, 1), "command": command,
                                                  "machine": machine, "date": stamp}
    atomic_write_json(RUNTIMES, dict(sorted(runtimes.items())))
    if args.save_executed:
        save(nb, args.save_executed)
    print(f"{name} at preset {args.preset}: {seconds / 60:.1f} min; {len(recorded)} recorded values")


def save(nb, path: Path) -> None:
    """Write the executed notebook atomically."""
    import nbformat

    atomic_write_text(path, nbformat.writes(nb))


if __name__ == "__main__":
    main()
