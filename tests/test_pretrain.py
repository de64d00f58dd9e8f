"""`ptm_course.pretrain`: one process and N processes (gloo on CPU) give the same run; resume is exact.

The multi-process tests launch `torchrun` (python -m torch.distributed.run) with 2 CPU processes
on the smoke recipes, cut to a few hundred examples and a few steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ptm_course.data.masking import SpecialTokens
from ptm_course.models.bert import BertConfig, BertForMaskedLM, BertForPreTraining, mlm_loss, pretraining_loss
from ptm_course.models.gpt import GPT, GPTConfig, lm_loss
from ptm_course.models.xlnet import XLNetConfig, XLNetLMHeadModel, xlnet_loss
from ptm_course.pretrain import (BertPretrainingSums, CausalLMSums, Corpus, MaskedLMSums, MaskedPairs, PermutationLMSums,
                                 PermutedWindows, PretrainError, Settings, World, _check_launch, main, recipe, run,
                                 step_batches)

SP = SpecialTokens(pad=0, unk=1, cls=2, sep=3, mask=4)
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
# a few steps over 2 epochs: 24 training examples = 3 steps of 8 per epoch
QUICK = ["--preset", "smoke", "--steps", "5", "--global-batch", "8", "--micro-batch", "2", "--log-every", "1",
         "--no-progress", "--device", "cpu", "--limit", "24"]


def pairs(n: int, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        la, lb = 3 + i % 5, 2 + i % 4
        a, b = torch.randint(5, 50, (la,), generator=g).tolist(), torch.randint(5, 50, (lb,), generator=g).tolist()
        out.append({"input_ids": [SP.cls, *a, SP.sep, *b, SP.sep], "token_type_ids": [0] * (la + 2) + [1] * (lb + 1),
                    "nsp_label": i % 2})
    return out


def torchrun(*args: str, nproc: int = 2, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                           "-m", "ptm_course.pretrain", *args], capture_output=True, text=True, env=ENV, timeout=timeout)


def one_process(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ptm_course.pretrain", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout)


def ok(res: subprocess.CompletedProcess) -> None:
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "final" / "model.safetensors"))


def losses(out: Path, key: str = "loss") -> list[float]:
    return [row[key] for row in json.loads((out / "history.json").read_text())["train"]]


# ---------------------------------------------------------------------------------------------
# In process: the objectives, the masks, which examples a step reads, the launch check
# ---------------------------------------------------------------------------------------------


def test_the_sums_divided_by_their_counts_are_the_chapters_losses():
    torch.manual_seed(0)
    data = MaskedPairs(pairs(6), SP, 50, seq_len=16, seed=1)
    batch = data.collate([data[i] for i in range(6)])
    model = BertForPreTraining(BertConfig.tiny(vocab_size=50, max_len=16)).eval()
    sums, n = BertPretrainingSums(model)(batch), BertPretrainingSums.counts(batch)
    loss, metrics = pretraining_loss(model, batch)
    assert n["mlm"] == (batch["mlm_labels"] != -100).sum() and n["nsp"] == 6
    torch.testing.assert_close(sums["mlm"] / n["mlm"] + sums["nsp"] / n["nsp"], loss)
    torch.testing.assert_close(sums["mlm_correct"] / n["mlm"], metrics["mlm_acc"])

    gpt = GPT(GPTConfig.tiny(vocab_size=50, max_len=16)).eval()
    b = {"input_ids": torch.randint(0, 50, (3, 16))}
    s, c = CausalLMSums(gpt)(b), CausalLMSums.counts(b)
    loss, metrics = lm_loss(gpt, b)
    assert c["lm"] == 3 * 15 and c["tokens"] == 48
    torch.testing.assert_close(s["lm"] / c["lm"], loss)
    torch.testing.assert_close(s["lm_correct"] / c["lm"], metrics["acc"])

    mlm = BertForMaskedLM(BertConfig.tiny(vocab_size=50, max_len=16)).eval()
    no_positions = {k: v for k, v in batch.items() if k != "mlm_positions"}  # whole-unit masking's path
    for b in (batch, no_positions):
        s, c = MaskedLMSums(mlm)(b), MaskedLMSums.counts(b)
        loss, metrics = mlm_loss(mlm, b)
        torch.testing.assert_close(s["mlm"] / c["mlm"], loss)
        torch.testing.assert_close(s["mlm_correct"] / c["mlm"], metrics["mlm_acc"])

    xl = XLNetLMHeadModel(XLNetConfig.tiny(vocab_size=50)).eval()
    windows = PermutedWindows(torch.randint(0, 50, (200,)), 24, seed=0)
    b = windows.collate([windows[i] for i in range(4)])
    s, c = PermutationLMSums(xl)(b), PermutationLMSums.counts(b)
    loss, metrics = xlnet_loss(xl, b)
    assert c["plm"] == 4 * (24 // 6)
    torch.testing.assert_close(s["plm"] / c["plm"], loss)
    torch.testing.assert_close(s["plm_correct"] / c["plm"], metrics["acc"])


def test_xlnet_orders_depend_on_seed_epoch_and_index_only():
    a = PermutedWindows(torch.arange(300), 24, seed=2)
    first = [a[i]["perm_mask"] for i in range(5)]
    torch.manual_seed(9)
    assert all(torch.equal(x, PermutedWindows(torch.arange(300), 24, seed=2)[i]["perm_mask"]) for i, x in enumerate(first))
    a.set_epoch(1)
    assert any(not torch.equal(x, a[i]["perm_mask"]) for i, x in enumerate(first))


def test_masks_depend_on_seed_epoch_and_index_only():
    a, b = MaskedPairs(pairs(8), SP, 50, 16, seed=3), MaskedPairs(pairs(8), SP, 50, 16, seed=3)
    torch.manual_seed(0)
    first = [a[i]["input_ids"] for i in range(8)]
    torch.manual_seed(123)  # the global RNG plays no part
    assert all(torch.equal(x, b[i]["input_ids"]) for i, x in enumerate(first))
    b.set_epoch(1)  # a fresh mask every epoch (dynamic masking)
    assert any(not torch.equal(x, b[i]["input_ids"]) for i, x in enumerate(first))
    assert not all(torch.equal(x, MaskedPairs(pairs(8), SP, 50, 16, seed=4)[i]["input_ids"]) for i, x in enumerate(first))
    batch = a.collate([a[i] for i in range(8)])
    assert batch["input_ids"].shape == (8, 16) and batch["mlm_positions"].shape == (8, a.max_predictions)


class Indices(torch.utils.data.Dataset):
    """Example i is i: what step_batches hands each process, made visible."""

    def __len__(self):
        return 50

    def __getitem__(self, i):
        return i

    def set_epoch(self, epoch):
        pass

    def collate(self, items):
        return items


def test_a_step_reads_the_same_examples_whatever_the_number_of_processes():
    seen = {}
    for W, micro, accum in [(1, 2, 4), (2, 2, 2), (4, 1, 2), (2, 4, 1)]:  # a global batch of 8 each time
        per_step: list[list[int]] = []
        for rank in range(W):
            n, batches = step_batches(Indices(), World(rank, W), micro, accum, seed=5, epoch=2, first_step=1)
            mine = list(batches)
            assert len(mine) == (n - 1) * accum and all(len(m) == micro for m in mine)
            for k in range(n - 1):
                step = [i for m in mine[k * accum:(k + 1) * accum] for i in m]
                per_step[k:k + 1] = [sorted((per_step[k] if k < len(per_step) else []) + step)]
        seen[W, micro] = per_step
    first = seen[1, 2]
    assert len(first) == 50 // 8 - 1 and len({i for s in first for i in s}) == 8 * len(first)
    assert all(v == first for v in seen.values())
    _, other_epoch = step_batches(Indices(), World(0, 1), 2, 4, seed=5, epoch=3, first_step=1)
    assert sorted(i for m in list(other_epoch)[:4] for i in m) != first[0]


class TinyVocab:
    def get_vocab_size(self):
        return 50

    def to_str(self):
        return "{}"


def test_how_a_step_is_split_does_not_change_it(tmp_path):
    # pairs of very different lengths, so micro-batches hold different numbers of masked tokens:
    # averaging per-micro-batch means would weight tokens by how full their micro-batch is
    r = replace(recipe("bert", "smoke"), steps=3, global_batch=8, warmup_steps=0,
                model_config=dict(d_model=32, n_layers=2, n_heads=4, d_ff=64), seq_len=16)
    examples = pairs(32)
    for e in examples[::3]:  # some pairs much shorter
        e["input_ids"], e["token_type_ids"] = e["input_ids"][:5] + [SP.sep], e["token_type_ids"][:6]
    finals = []
    for micro in (1, 8):
        corpus = Corpus(MaskedPairs(examples, SP, 50, 16, seed=0), [], TinyVocab())
        s = Settings(recipe=r, out=tmp_path / f"micro{micro}", micro_batch=micro, device="cpu", dropout=0.0,
                     progress=False, log_every=1)
        run(s, corpus)
        finals.append((losses(s.out), weights(s.out)))
    (l1, w1), (l8, w8) = finals
    assert l1 == pytest.approx(l8, rel=1e-5)
    assert losses(tmp_path / "micro1", "grad_norm") == pytest.approx(losses(tmp_path / "micro8", "grad_norm"), rel=1e-4)
    for k in w1:
        torch.testing.assert_close(w1[k], w8[k], atol=2e-5, rtol=1e-4, msg=k)


def test_a_bad_launch_is_refused_with_what_to_change():
    r = recipe("gpt", "smoke")
    s = Settings(recipe=r, out=Path("unused"), micro_batch=3)
    with pytest.raises(PretrainError, match=r"--global-batch 16 is not a multiple of 2 × 3 = 6: use --global-batch 12 or 18"):
        _check_launch(s, World(0, 2))
    assert _check_launch(Settings(recipe=r, out=Path("unused"), micro_batch=4), World(1, 2)) == 2
    with pytest.raises(PretrainError, match="no recipe for model 'gpt' at preset 'huge'"):
        recipe("gpt", "huge")


def test_asking_for_a_gpu_without_one_is_a_clear_error(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["gpt", "--preset", "smoke", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "CUDA is not available here; use --device cpu" in capsys.readouterr().err


def test_the_recipes_are_the_notebooks_sizes():
    # chapter 07 (cpu): WordPiece 8,000, pairs of 96, BertConfig.small without dropout, 32 pairs x 1,500 steps at 5e-4
    b = recipe("bert", "cpu")
    assert (b.vocab_size, b.seq_len, b.global_batch, b.steps, b.lr) == (8000, 96, 32, 1500, 5e-4)
    assert dict(b.model_config) == dict(d_model=256, n_layers=4, n_heads=4, d_ff=1024, dropout=0.0, attn_dropout=0.0)
    text = Path(__file__).resolve().parents[1].joinpath("notebooks", "07_bert_pretraining.py").read_text(encoding="utf-8")
    assert "max_len = ctx.pick(smoke=64, cpu=96, gpu=128)" in text
    assert "cpu=BertConfig.small(vocab_size=V, max_len=max_len, dropout=0.0, attn_dropout=0.0)" in text
    # chapter 10 (cpu): BPE 4,096, windows of 128, 16 per step, 2.4 M tokens = 1,171 steps, d 128 x 4 layers
    g = recipe("gpt", "cpu")
    assert (g.vocab_size, g.seq_len, g.global_batch, g.steps, g.lr) == (4096, 128, 16, 1171, 2e-3)
    text = Path(__file__).resolve().parents[1].joinpath("notebooks", "10_gpt.py").read_text(encoding="utf-8")
    assert "VOCAB = ctx.pick(smoke=1024, cpu=4096, gpu=8192)" in text and "cpu=2_400_000" in text
    # chapter 09 (knowledge masking) and chapter 11 (XLNet beside BERT)
    e, x = recipe("ernie", "cpu"), recipe("xlnet", "cpu")
    assert (e.seq_len, e.global_batch, e.steps, e.lr) == (48, 64, 2500, 2e-3)
    assert (x.vocab_size, x.seq_len, x.global_batch, x.steps, x.lr) == (4096, 64, 16, 1000, 1e-3)
    nb = Path(__file__).resolve().parents[1] / "notebooks"
    assert "STEPS = ctx.pick(smoke=30, cpu=2500, gpu=8000)" in (nb / "09_ernie.py").read_text(encoding="utf-8")
    assert "SEQ, PT_STEPS = 64, ctx.pick(smoke=30, cpu=1000, gpu=6000)" in (nb / "11_transformer_xl_xlnet.py").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Processes: 2 x gloo = 1 process; resume; a bad launch fails on every process
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["bert", "ernie", "gpt", "xlnet"])
def test_two_processes_equal_one_with_the_same_global_batch(model, tmp_path):
    # dropout off: with dropout each process draws its own masks (same distribution, other numbers)
    ok(one_process(model, *QUICK, "--dropout", "0", "--out", str(tmp_path / "one")))
    ok(torchrun(model, *QUICK, "--dropout", "0", "--out", str(tmp_path / "two")))
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(one) == len(two) == 5 and one[-1] < one[0]
    assert one == pytest.approx(two, rel=1e-5)
    # the gradient itself (Adam would hide a gradient off by a constant factor in the weights)
    assert losses(tmp_path / "one", "grad_norm") == pytest.approx(losses(tmp_path / "two", "grad_norm"), rel=1e-4)
    w1, w2 = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert w1.keys() == w2.keys()
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], atol=5e-5, rtol=1e-4, msg=k)
    # and the runs did move the weights: the comparison is not between two untouched inits
    card = json.loads((tmp_path / "two" / "history.json").read_text())
    assert card["world_size"] == 2 and card["train"][-1]["epoch"] == 1  # crossed into the second epoch


def test_resume_from_a_checkpoint_ends_equal_to_the_uninterrupted_run(tmp_path):
    # with dropout on, 2 processes: every process's RNG stream must be restored, not just process 0's
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    ok(torchrun("bert", *QUICK, "--out", str(full), "--checkpoint-every", "2", "--keep-checkpoints", "5"))
    ckpt = full / "checkpoints" / "step-00000004"  # step 4: inside the second epoch
    assert (ckpt / "model.safetensors").exists() and (full / "checkpoints" / "latest").read_text().strip() == "step-00000005"
    ok(torchrun("bert", *QUICK, "--out", str(resumed), "--resume", str(ckpt)))
    a, b = weights(full), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a), "the resumed run drifted from the uninterrupted one"
    assert losses(resumed)[-1] == losses(full)[-1]
    # resuming with "latest" after the end has nothing left to do and keeps the weights
    res = torchrun("bert", *QUICK, "--out", str(full), "--resume")
    ok(res)
    assert all(torch.equal(a[k], v) for k, v in weights(full).items())


def test_a_bad_launch_fails_on_every_process_without_hanging(tmp_path):
    res = torchrun("gpt", "--preset", "smoke", "--global-batch", "6", "--micro-batch", "2", "--device", "cpu",
                   "--out", str(tmp_path), timeout=120)
    assert res.returncode != 0
    for rank in (0, 1):
        assert (f"pretrain (process {rank} of 2): error: the global batch must be a multiple of processes × micro-batch, "
                "but --global-batch 6 is not a multiple of 2 × 2 = 4") in res.stderr
    assert not (tmp_path / "final").exists()
