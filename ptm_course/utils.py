"""Device, seeding, run presets, mixed precision and parameter counting.

Every notebook starts with the same three questions: which device, which run preset, which
random seed. This module answers them in one place so that a notebook never hard-codes a size.

    >>> from ptm_course.utils import get_device, get_preset, set_seed
    >>> set_seed(0)
    >>> get_device("cpu")
    device(type='cpu')
    >>> get_preset("smoke").pick(smoke=100, cpu=2_000, gpu=20_000)
    100
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

import numpy as np
import torch

__all__ = [
    "PRESETS",
    "Preset",
    "amp_dtype",
    "autocast",
    "count_params",
    "get_device",
    "get_preset",
    "grad_scaler",
    "median_seconds",
    "num_threads",
    "set_seed",
]

T = TypeVar("T")

# --------------------------------------------------------------------------------------------
# Device
# --------------------------------------------------------------------------------------------


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(device: str | torch.device = "auto") -> torch.device:
    """Return the device to run on: ``"auto"`` picks cuda > mps > cpu.

    An explicit name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) is checked, so asking for
    a GPU that is not there fails here with a clear message instead of deep inside a model.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {device!r}")
    name = device.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise ValueError(
            f"unknown device {device!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {device!r} was asked for but CUDA is not available here; "
            "use get_device('auto') or 'cpu' (on Colab: Runtime > Change runtime type > GPU)"
        )
    if dev.type == "mps" and not _mps_available():
        raise RuntimeError(f"device {device!r} was asked for but MPS is not available; use 'auto' or 'cpu'")
    return dev


# --------------------------------------------------------------------------------------------
# Seeding
# --------------------------------------------------------------------------------------------


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU).

    ``deterministic=True`` also asks PyTorch for deterministic kernels (slower on GPU).
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False


# --------------------------------------------------------------------------------------------
# Run presets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """A run preset: how big the runs in a notebook are.

    ``smoke`` is what CI runs (seconds per notebook on two CPU cores); ``cpu`` gives the
    numbers the text quotes on a laptop; ``gpu`` is for a Colab/GPU session. Notebooks read
    every size through :meth:`pick`, so one switch (``PTM_PRESET``) rescales a whole chapter.
    """

    name: str
    description: str
    notebook_runtime: str  # what a chapter notebook takes with this preset

    def pick(self, *, smoke: T, cpu: T, gpu: T) -> T:
        """Return the value for this preset: ``preset.pick(smoke=1, cpu=5, gpu=20)``."""
        return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[self.name]

    def __str__(self) -> str:
        return f"{self.name}: {self.description} (a chapter takes {self.notebook_runtime})"


PRESETS: dict[str, Preset] = {
    "smoke": Preset("smoke", "tiny data and few steps, checks that everything runs", "< 2 min on 2 CPU cores"),
    "cpu": Preset("cpu", "real runs sized for a laptop CPU", "5-20 min on a laptop CPU"),
    "gpu": Preset("gpu", "full-size runs for one GPU (e.g. Colab T4/A100)", "5-20 min on one GPU"),
}


def get_preset(name: str | None = None, device: str | torch.device = "auto") -> Preset:
    """Return the run preset.

    Order: the ``name`` argument, then the ``PTM_PRESET`` environment variable, then a default
    from the device (``gpu`` when CUDA is available, ``cpu`` otherwise).
    """
    if name is None:
        name = os.environ.get("PTM_PRESET") or None
    if name is None:
        name = "gpu" if get_device(device).type == "cuda" else "cpu"
    key = name.strip().lower()
    if key not in PRESETS:
        raise ValueError(
            f"unknown run preset {name!r}; choose one of {sorted(PRESETS)} "
            "(set PTM_PRESET=smoke|cpu|gpu or pass name=...)"
        )
    return PRESETS[key]


# --------------------------------------------------------------------------------------------
# Mixed precision
# --------------------------------------------------------------------------------------------


def amp_dtype(device: str | torch.device, enabled: bool | None = None) -> torch.dtype | None:
    """The autocast dtype for ``device``, or ``None`` when autocast is off.

    CUDA: bfloat16 where the GPU computes it natively (Ampere and newer), float16 otherwise (then
    use :func:`grad_scaler`). A T4 (Colab's free GPU) has float16 tensor cores but no bfloat16
    ones: it only emulates bfloat16, and ``torch.cuda.is_bf16_supported()`` counts emulation
    unless asked not to. CPU and MPS: off unless ``enabled=True`` (CPU then uses bfloat16, MPS
    float16). ``enabled=False`` always turns it off.
    """
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if enabled is False:
        return None
    if dev.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    if enabled:
        return torch.bfloat16 if dev.type == "cpu" else torch.float16
    return None


def autocast(
    device: str | torch.device, enabled: bool | None = None, dtype: torch.dtype | None = None
) -> contextlib.AbstractContextManager:
    """A context that runs its block in mixed precision where :func:`amp_dtype` says so.

    >>> with autocast("cpu"):          # off on CPU unless asked: a no-op context
    ...     pass
    """
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    chosen = dtype if dtype is not None and enabled is not False else amp_dtype(dev, enabled)
    if chosen is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=dev.type, dtype=chosen)


def grad_scaler(device: str | torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler that is active only for float16 on CUDA (bf16 and fp32 need none)."""
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    active = dtype == torch.float16 and dev.type == "cuda"
    return torch.amp.GradScaler(dev.type if dev.type in ("cuda", "cpu") else "cpu", enabled=active)


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


def count_params(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters; shared (tied) tensors are counted once.

    >>> count_params(torch.nn.Linear(3, 2))
    8
    """
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if trainable_only and not p.requires_grad:
            continue
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def iter_chunks(n: int, size: int) -> Iterator[slice]:
    """Slices that cover ``range(n)`` in chunks of ``size``: ``[slice(0, 2), slice(2, 3)]`` for n=3, size=2."""
    if size <= 0:
        raise ValueError(f"chunk size must be positive, got {size}")
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


@contextlib.contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    """Run the block with torch's CPU thread count set to ``n`` (restored after); ``None`` changes nothing.

    >>> with num_threads(1):
    ...     torch.get_num_threads()
    1
    """
    if n is None:
        yield
        return
    if n < 1:
        raise ValueError(f"num_threads needs n >= 1 (or None), got {n}")
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# --------------------------------------------------------------------------------------------
# Timing that holds on a busy laptop
# --------------------------------------------------------------------------------------------


def median_seconds(fn: Callable[[], object], repeats: int = 21, warmup: int = 2, threads: int | None = 1) -> float:
    """The median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed ones.

    ``threads``: torch's CPU thread count while timing (restored after); one thread keeps small
    operations from paying for thread start-up and from fighting other programs for cores, so
    that comparisons made in one run hold on a loaded machine. ``None`` leaves it as it is. On a
    GPU, synchronise inside ``fn`` (kernels run asynchronously).

    >>> median_seconds(lambda: sum(range(1000)), repeats=3) > 0
    True
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be ≥ 1 and warmup ≥ 0, got {repeats} and {warmup}")
    with num_threads(threads):
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)
