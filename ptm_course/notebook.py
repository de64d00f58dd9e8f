"""What every notebook's first code cell does: install on Colab, pick device, preset and seed.

The first code cell of every notebook (chapters, solutions, exercises) is exactly
:data:`SETUP_CELL` (a packaging test checks it), so a learner sees the same start everywhere:

    import subprocess, sys
    IN_COLAB = "google.colab" in sys.modules
    if IN_COLAB:  # on Colab, install the course package (and its data tools) from the repository
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", PACKAGE_URL], check=True)
    from ptm_course.notebook import setup_notebook
    ctx = setup_notebook(seed=0)  # prints device, run preset, versions; warns without a GPU on Colab

The package is installed with ``subprocess`` rather than ``%pip``: a ``%pip`` line inside an
``if`` turns into a comment in the paired .py file and breaks it (see the course's TOOLING).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import warnings
from dataclasses import dataclass

import torch

from .utils import Preset, get_device, get_preset, set_seed

__all__ = ["NotebookContext", "REPO_URL", "PACKAGE_URL", "RESULTS_ENV", "SETUP_CELL", "record", "setup_notebook"]

REPO_URL = "https://github.com/ptm-course/ptm-course"
PACKAGE_URL = f"ptm-course @ git+{REPO_URL}"

SETUP_CELL = f'''# Setup: on Colab, install the course package; everywhere, pick the device, run preset and seed.
import subprocess, sys
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "{PACKAGE_URL}"], check=True)
from ptm_course.notebook import setup_notebook
ctx = setup_notebook(seed=0)'''


@dataclass(frozen=True)
class NotebookContext:
    """What a notebook needs to size and place its runs: ``ctx.device``, ``ctx.preset``, ``ctx.seed``."""

    device: torch.device
    preset: Preset
    seed: int
    in_colab: bool

    def pick(self, *, smoke, cpu, gpu):
        """Shortcut for ``ctx.preset.pick(...)``."""
        return self.preset.pick(smoke=smoke, cpu=cpu, gpu=gpu)


def setup_notebook(seed: int = 0, device: str = "auto", preset: str | None = None, quiet: bool = False) -> NotebookContext:
    """Seed everything, choose device and run preset, print them, warn on Colab without a GPU."""
    in_colab = "google.colab" in sys.modules
    dev = get_device(device)
    chosen = get_preset(preset, device=dev)
    set_seed(seed)
    if not quiet:
        gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "none"
        print(f"device: {dev} (GPU: {gpu}) | torch {torch.__version__} | Python {platform.python_version()}")
        print(f"run preset: {chosen}")
        print("change it with PTM_PRESET=smoke|cpu|gpu before starting Jupyter, or setup_notebook(preset=...)")
    if in_colab and dev.type != "cuda":
        msg = (
            "NO GPU ATTACHED. This Colab session runs on the CPU: the 'gpu' preset will be very slow. "
            "Use Runtime > Change runtime type > T4 GPU, then run this cell again."
        )
        warnings.warn(msg, stacklevel=2)
        print("!" * 80 + "\n" + msg + "\n" + "!" * 80)
    return NotebookContext(device=dev, preset=chosen, seed=seed, in_colab=in_colab)


RESULTS_ENV = "PTM_RESULTS"  # set by benchmarks/run_notebook.py: where a notebook's measured numbers go


def record(name: str, value):
    """Keep a number the notebook's text quotes: written to the JSON file named by ``$PTM_RESULTS``.

    ``benchmarks/run_notebook.py`` sets that variable when it runs a chapter at a preset, so the
    figures the chapter's text quotes come from a results file that a command wrote (a test checks
    text and file agree). Without it (a learner's run) nothing is written. Returns ``value``, so a
    cell can show what it records: ``record("valid_loss", loss)``. Values must be JSON-serialisable
    (floats, ints, strings, lists, dicts); tensors and NumPy scalars are turned into Python numbers.
    """
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return value
    if not isinstance(name, str) or not name:
        raise ValueError(f"record needs a non-empty string name, got {name!r}")
    plain = value.tolist() if hasattr(value, "tolist") else value
    from .io import atomic_write_json

    results = json.loads(open(path, encoding="utf-8").read()) if os.path.exists(path) else {}
    results[name] = plain
    atomic_write_json(path, results)
    return value
