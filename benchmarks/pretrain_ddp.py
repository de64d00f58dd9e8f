"""`ptm-course pretrain` on 1 process and on N processes (torchrun, gloo on CPU or NCCL on GPUs), side by side.

    python benchmarks/pretrain_ddp.py                                     # every model, smoke recipes, 2 CPU processes
    python benchmarks/pretrain_ddp.py --models gpt --steps 40 --nproc 2   # one model, longer
    python benchmarks/pretrain_ddp.py --device cuda --nproc 8 --preset gpu --steps 50 --out results/pretrain_ddp_gpu.json

For each model, the same run twice: one process accumulating the global batch in micro-batches,
then ``--nproc`` processes under ``torchrun`` each reading its share (dropout off, so the two
runs must agree up to float rounding). Records the largest weight difference at the end, the
largest relative difference of the logged per-step losses (both also in millionths), the
losses at the first and last step, and wall time and tokens per second of each launch and their
ratio (``speedup``) (data preparation included in the wall
time; tokens/s is the training loop's, from the run's log). Writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from ptm_course.io import atomic_write_json  # noqa: E402


def launch(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["bert", "ernie", "gpt", "xlnet"])
    p.add_argument("--preset", default="smoke")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--global-batch", type=int, default=16)
    p.add_argument("--micro-batch", type=int, default=4)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pretrain_ddp_cpu.json")
    args = p.parse_args()
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    common = ["--preset", args.preset, "--steps", str(args.steps), "--global-batch", str(args.global_batch),
              "--micro-batch", str(args.micro_batch), "--device", args.device, "--dropout", "0", "--log-every", "1",
              "--no-progress"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            one, many = Path(tmp) / f"{model}-1", Path(tmp) / f"{model}-{args.nproc}"
            t1 = launch([sys.executable, "-m", "ptm_course.pretrain", model, *common, "--out", str(one)], env)
            tn = launch([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
                         "-m", "ptm_course.pretrain", model, *common, "--out", str(many)], env)
            h1, hn = (json.loads((d / "history.json").read_text()) for d in (one, many))
            w1, wn = (load_file(str(d / "final" / "model.safetensors")) for d in (one, many))
            l1, ln = [r["loss"] for r in h1["train"]], [r["loss"] for r in hn["train"]]
            w_diff = max(float((w1[k] - wn[k]).abs().max()) for k in w1)
            l_diff = max(abs(a - b) / abs(a) for a, b in zip(l1, ln))
            row = {"model": model, "steps": args.steps, "global_batch": args.global_batch,
                   "micro_batch": args.micro_batch, "processes": args.nproc,
                   "max_abs_weight_diff": w_diff, "max_abs_weight_diff_millionths": round(w_diff * 1e6, 2),
                   "max_rel_loss_diff": l_diff, "max_rel_loss_diff_millionths": round(l_diff * 1e6, 3),
                   "loss_first": l1[0], "loss_last": l1[-1],
                   "wall_s_1": round(t1, 1), f"wall_s_{args.nproc}": round(tn, 1),
                   "speedup": None,
                   "tokens_per_s_1": round(sum(r["tokens_per_s"] for r in h1["train"][1:]) / max(1, len(l1) - 1), 1),
                   f"tokens_per_s_{args.nproc}": round(sum(r["tokens_per_s"] for r in hn["train"][1:]) / max(1, len(ln) - 1), 1)}
            row["speedup"] = round(row[f"tokens_per_s_{args.nproc}"] / row["tokens_per_s_1"], 2)
            rows.append(row)
            print(json.dumps(row))
    atomic_write_json(args.out, {"command": "python benchmarks/pretrain_ddp.py " + " ".join(sys.argv[1:]),
                                 "torch": torch.__version__, "machine": platform.machine(), "cpus": os.cpu_count(),
                                 "device": args.device, "preset": args.preset, "rows": rows})
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
