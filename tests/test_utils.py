import random

import numpy as np
import pytest
import torch

from ptm_course.utils import (
    PRESETS,
    amp_dtype,
    autocast,
    count_params,
    get_device,
    get_preset,
    grad_scaler,
    set_seed,
)


def test_get_device_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("ptm_course.utils._mps_available", lambda: True)
    assert get_device("auto").type == "mps"
    monkeypatch.setattr("ptm_course.utils._mps_available", lambda: False)
    assert get_device("auto") == torch.device("cpu")


def test_get_device_explicit_and_errors(monkeypatch):
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        get_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        get_device("tpu-9000")
    with pytest.raises(TypeError):
        get_device(3)


def test_set_seed_makes_all_generators_repeat():
    set_seed(123)
    a = (random.random(), np.random.rand(), torch.rand(3))
    set_seed(123)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    with pytest.raises(TypeError):
        set_seed(1.5)


def test_presets_from_env_argument_and_device(monkeypatch):
    monkeypatch.setenv("PTM_PRESET", "smoke")
    assert get_preset().name == "smoke"
    assert get_preset("gpu").name == "gpu"  # argument wins over the environment
    monkeypatch.delenv("PTM_PRESET")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_preset(device="cpu").name == "cpu"
    with pytest.raises(ValueError, match="smoke"):
        get_preset("huge")


def test_preset_pick_returns_the_value_of_its_own_name():
    assert [PRESETS[n].pick(smoke=1, cpu=2, gpu=3) for n in ("smoke", "cpu", "gpu")] == [1, 2, 3]
    with pytest.raises(TypeError):
        PRESETS["cpu"].pick(smoke=1, cpu=2)  # every preset must be given a value


def test_amp_off_on_cpu_unless_asked(monkeypatch):
    assert amp_dtype("cpu") is None
    assert amp_dtype("cpu", enabled=True) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)  # Ampere+
    assert amp_dtype("cuda") == torch.bfloat16
    # a T4: bf16 only emulated (torch says yes unless asked about native support) -> float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert amp_dtype("cuda") == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert amp_dtype("cuda") == torch.float16
    assert amp_dtype("cuda", enabled=False) is None


def test_autocast_runs_matmul_in_bf16_on_cpu_when_asked():
    a = torch.randn(4, 4)
    with autocast("cpu"):
        assert (a @ a).dtype == torch.float32
    with autocast("cpu", enabled=True):
        assert (a @ a).dtype == torch.bfloat16


def test_grad_scaler_only_for_fp16_cuda():
    assert not grad_scaler("cpu", torch.bfloat16).is_enabled()
    assert not grad_scaler("cpu", None).is_enabled()


def test_count_params_counts_tied_weights_once():
    emb = torch.nn.Embedding(10, 4)
    head = torch.nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    model = torch.nn.ModuleList([emb, head])
    assert count_params(model) == 40
    emb.weight.requires_grad_(False)
    assert count_params(model, trainable_only=True) == 0


def test_median_seconds_takes_the_median_on_one_thread_and_restores_threads():
    import time as _time

    from ptm_course.utils import median_seconds

    before = torch.get_num_threads()
    seen, calls = [], []
    delays = iter([0.0, 0.0, 0.05, 0.001, 0.001])  # 2 warm-ups, then one slow outlier among 3 timed calls

    def fn():
        seen.append(torch.get_num_threads())
        calls.append(1)
        _time.sleep(next(delays))

    t = median_seconds(fn, repeats=3, warmup=2)
    assert len(calls) == 5 and set(seen) == {1}
    assert 0.001 <= t < 0.02  # the outlier does not move the median
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="repeats must be"):
        median_seconds(fn, repeats=0)
