"""Word2vec's two fast paths, apart from the trainer a learner reads in :mod:`.word2vec`.

* :func:`compile_batch_steps` — the negative-sampling batch steps fused by ``torch.compile``
  (``Word2VecConfig(compile=True)``): one loop instead of ~15 tensor operations and their
  temporaries, 1.3-1.8x faster on a CPU. A compilation that fails is warned about once and the
  batch runs eagerly: the same arithmetic, so the same vectors.
* :func:`train_hogwild` — ``Word2Vec.train(..., workers=n)``: n Python threads, each training on
  its own stretches of the corpus and writing into the shared vectors without locks, as
  word2vec.c's and gensim's worker threads do (Hogwild: Recht et al. 2011).

Both compute what the reference does (tests: compiled steps give the eager run's vectors;
one worker is the sequential run bit for bit; two workers learn the same neighbourhoods).
"""

from __future__ import annotations

import threading
import warnings
from typing import TYPE_CHECKING, Callable

import torch

from ..utils import num_threads

if TYPE_CHECKING:
    from .word2vec import Word2Vec, _TrainingRun

__all__ = ["compile_batch_steps", "train_hogwild"]


def compile_batch_steps(model: "Word2Vec", steps: tuple[Callable, ...], hogwild: bool) -> tuple[Callable, ...]:
    """``steps`` (the eager skip-gram and CBOW batch steps of ``model``) compiled, each falling
    back to its eager version from the first compilation error on."""
    # Hogwild workers: a C++ wrapper around the compiled kernels, which lets go of the GIL while
    # they run (the default Python wrapper holds it, and the workers would take turns)
    options = {"cpp_wrapper": True} if hogwild and model.device.type == "cpu" else None
    try:
        return tuple(_with_fallback(model, torch.compile(f, dynamic=True, options=options), f) for f in steps)
    except Exception as e:  # noqa: BLE001 — no compiler back-end here: say so, keep going
        warnings.warn(f"torch.compile is not available ({e}); training without it", stacklevel=4)
        return steps


def _with_fallback(model: "Word2Vec", compiled: Callable, eager: Callable) -> Callable:
    """``compiled``, or ``eager`` from the first compilation error on (warned once per model).

    Compilation happens at the first call (and again for new shapes); an error there (no C++
    compiler, a compiler bug: torch 2.11's inductor failed on these steps on a GPU) stops
    nothing: the batch runs eagerly. Graphs compile before they run, so a failure leaves the
    vectors untouched (at worst, when a later piece of the step fails after an earlier piece
    ran, one batch's output-vector update is applied twice).
    """

    def step(*args):
        if not model._compile_failed:
            try:
                return compiled(*args)
            except torch._dynamo.exc.TorchDynamoException as e:
                model._compile_failed = True
                first = (str(e).strip().splitlines() or [""])[0][:200]
                warnings.warn(f"torch.compile failed on the word2vec batch step ({type(e).__name__}: {first}); "
                              "training goes on without it", stacklevel=2)
        return eager(*args)

    return step


def train_hogwild(run: "_TrainingRun", workers: int) -> None:
    """Train ``run``'s stretches of corpus on ``workers`` threads sharing the vectors, no locks.

    Each worker takes the next stretch, trains on it with one torch thread and batches of
    ``batch_size // workers`` (so that no more stale updates are in flight at once than with one
    worker: CBOW loses quality otherwise), and reports its loss. α follows the words finished by
    all workers. Worker 0 draws from the generator a one-worker run uses, so ``workers=1`` would
    be the sequential run. The first error of any worker stops the others and reaches the caller.
    """
    lock = threading.Lock()
    errors: list[BaseException] = []
    next_job = [0]
    batch = max(1, run.model.config.batch_size // workers)

    def work(rank: int) -> None:
        gen = torch.Generator(device=run.model.device).manual_seed(run.seed + 7919 * rank)
        while True:
            with lock:
                if errors or next_job[0] == len(run.jobs):
                    return
                epoch, lo, hi = run.jobs[next_job[0]]
                next_job[0] += 1
                done = run.done  # words finished so far (all workers): drives α
            raw, n, loss = run.train_stretch(lo, hi, done, gen, batch, hogwild=True)
            with lock:
                run.record(epoch, raw, n, loss)

    def guarded(rank: int) -> None:
        try:
            work(rank)
        except BaseException as e:  # noqa: BLE001 — handed to the caller after the join
            with lock:
                errors.append(e)

    with num_threads(1):
        pool = [threading.Thread(target=guarded, args=(r,), name=f"word2vec-{r}") for r in range(workers)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    if errors:
        raise errors[0]
