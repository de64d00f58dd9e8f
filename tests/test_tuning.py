"""The tuning methods (LoRA, adapters, BitFit): formulas, identity at init, what trains, deltas saved and loaded."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ptm_course.models.bert import BertConfig, BertForMaskedLM, BertForSequenceClassification
from ptm_course.models.gpt import GPT, GPTConfig
from ptm_course.tuning import (
    HOULSBY,
    PFEIFFER,
    Adapter,
    LoRALinear,
    WithAdapter,
    apply_adapters,
    apply_bitfit,
    apply_lora,
    count_parameters,
    load_delta,
    merge_lora,
    save_delta,
    tuning_spec,
)

CFG = BertConfig.tiny(vocab_size=50, max_len=32)  # d 32, 2 layers


def _bert(seed=0, n_classes=3):
    torch.manual_seed(seed)
    return BertForSequenceClassification(CFG, n_classes).eval()


def _batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 50, (4, 11), generator=g)
    mask = torch.ones(4, 11, dtype=torch.long)
    mask[1, 7:] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 2, 1])}


def _logits(model, b):
    return model(b["input_ids"], None, b["attention_mask"])


def _randomise(model, std=0.05, seed=3):
    """Move every trainable parameter away from its init (B = 0 / W_up = 0 would hide mistakes)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * std)
    return model


APPLY = {
    "lora": lambda m: apply_lora(m, rank=4, alpha=8),
    "houlsby": lambda m: apply_adapters(m, HOULSBY, bottleneck=4),
    "pfeiffer": lambda m: apply_adapters(m, PFEIFFER, bottleneck=4),
    "bitfit": apply_bitfit,
}


# ---- LoRA ---------------------------------------------------------------------------------------


def test_lora_linear_is_the_formula():
    torch.manual_seed(0)
    base = nn.Linear(6, 5)
    lora = LoRALinear(base, rank=2, alpha=6.0)
    assert lora.lora_A.shape == (2, 6) and lora.lora_B.shape == (5, 2) and lora.scaling == 3.0
    assert torch.count_nonzero(lora.lora_B) == 0 and lora.lora_A.abs().max() <= 1 / 6 ** 0.5  # Kaiming(a=√5) bound
    nn.init.normal_(lora.lora_B)
    x = torch.randn(3, 4, 6)
    want = x @ base.weight.T + base.bias + 3.0 * (x @ lora.lora_A.T @ lora.lora_B.T)
    torch.testing.assert_close(lora(x), want, rtol=1e-5, atol=1e-6)


def test_lora_merge_unmerge_and_merge_lora():
    model = _randomise(apply_lora(_bert(), rank=4, alpha=8))
    b = _batch()
    with torch.no_grad():
        unmerged = _logits(model, b)
        w0 = model.bert.layers[0].attn.q_proj.base.weight.clone()
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.merge()
        merged = _logits(model, b)
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.unmerge()
        again = _logits(model, b)
    assert (merged - unmerged).abs().max() <= 1e-5 and (again - unmerged).abs().max() <= 1e-5
    assert torch.allclose(model.bert.layers[0].attn.q_proj.base.weight, w0, atol=1e-6)
    merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules()) and tuning_spec(model) is None
    assert type(model.bert.layers[0].attn.q_proj) is nn.Linear
    with torch.no_grad():
        assert (_logits(model, b) - unmerged).abs().max() <= 1e-5


def test_lora_targets_and_clear_errors():
    model = apply_lora(_bert(), rank=2, targets=("q_proj", "k_proj", "v_proj", "o_proj"))
    assert all(isinstance(getattr(layer.attn, n), LoRALinear) for layer in model.bert.layers
               for n in ("q_proj", "k_proj", "v_proj", "o_proj"))
    assert type(model.classifier) is nn.Linear  # the head is trained in full, never wrapped
    with pytest.raises(ValueError, match="no nn.Linear .* matched.*q_proj"):
        apply_lora(_bert(), targets=("query",))  # HF's names, not the course's
    with pytest.raises(ValueError, match="already has lora applied"):
        apply_lora(apply_lora(_bert()))
    with pytest.raises(ValueError, match="rank must be >= 1"):
        LoRALinear(nn.Linear(3, 3), rank=0, alpha=1)
    with pytest.raises(ValueError, match="apply_lora first"):
        merge_lora(_bert())


# ---- adapters ------------------------------------------------------------------------------------


def test_adapter_is_the_formula_and_the_identity_at_init():
    torch.manual_seed(0)
    a = Adapter(8, 3)
    h = torch.randn(2, 5, 8)
    assert torch.equal(a(h), h)  # W_up = b_up = 0
    nn.init.normal_(a.up.weight)
    nn.init.normal_(a.up.bias)
    want = h + F.relu(h @ a.down.weight.T + a.down.bias) @ a.up.weight.T + a.up.bias
    torch.testing.assert_close(a(h), want)


def test_adapter_placement_and_parameter_count():
    d, r = CFG.d_model, 4
    per_adapter = d * r + r + r * d + d
    h = apply_adapters(_bert(), HOULSBY, bottleneck=r)
    p = apply_adapters(_bert(), PFEIFFER, bottleneck=r)
    for layer in h.bert.layers:
        assert isinstance(layer.attn.o_proj, WithAdapter) and isinstance(layer.ffn.fc2, WithAdapter)
        assert type(layer.attn.q_proj) is nn.Linear and type(layer.ffn.fc1) is nn.Linear
    for layer in p.bert.layers:
        assert type(layer.attn.o_proj) is nn.Linear and isinstance(layer.ffn.fc2, WithAdapter)
    head = d * 3 + 3
    norms = sum(m.weight.numel() * 2 for m in h.modules() if isinstance(m, nn.LayerNorm))  # Houlsby trains them
    assert count_parameters(h).trainable == 2 * CFG.n_layers * per_adapter + norms + head
    assert count_parameters(p).trainable == CFG.n_layers * per_adapter + head
    assert count_parameters(h).backbone == count_parameters(_bert()).backbone  # adapters are not backbone
    assert apply_adapters(_bert(), PFEIFFER).bert.layers[0].ffn.fc2.adapter.down.out_features == d // 16


# ---- BitFit --------------------------------------------------------------------------------------


def test_bitfit_trains_biases_and_the_head_only():
    model = apply_bitfit(_bert())
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters() if n.endswith(".bias") or n.startswith("classifier.")}
    assert "bert.layers.0.norm1.bias" in trainable and "bert.layers.0.norm1.weight" not in trainable
    with pytest.raises(ValueError, match="no bias parameters"):
        apply_bitfit(nn.Sequential(nn.Linear(2, 2, bias=False)))


# ---- all methods ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(APPLY))
def test_unchanged_at_step_zero(method):
    b = _batch()
    with torch.no_grad():
        want = _logits(_bert(), b)
        got = _logits(APPLY[method](_bert()), b)
    assert torch.equal(got, want) if method == "bitfit" else (got - want).abs().max() <= 1e-6


@pytest.mark.parametrize("method", sorted(APPLY))
def test_only_the_intended_parameters_get_gradients(method):
    model = APPLY[method](_bert()).train()
    b = _batch()
    F.cross_entropy(_logits(model, b), b["labels"]).backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name} is trainable but got no gradient"
        else:
            assert p.grad is None, f"{name} is frozen but got a gradient"
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {"classifier.weight", "classifier.bias"} <= trained
    assert "bert.embeddings.word_embeddings.weight" not in trained
    expected = {
        "lora": lambda n: ".lora_" in n,
        "houlsby": lambda n: ".adapter." in n or ".norm" in n,
        "pfeiffer": lambda n: ".adapter." in n,
        "bitfit": lambda n: n.endswith(".bias"),
    }[method]
    assert trained == {n for n, _ in model.named_parameters() if expected(n) or n.startswith("classifier.")}


@pytest.mark.parametrize("method", sorted(APPLY))
def test_delta_round_trip_onto_a_fresh_backbone(method, tmp_path):
    tuned = _randomise(APPLY[method](_bert()))
    path = save_delta(tuned, tmp_path / f"{method}.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        stored = set(f.keys())
    assert stored == {n for n, p in tuned.named_parameters() if p.requires_grad}  # the delta only
    assert "bert.embeddings.word_embeddings.weight" not in stored
    fresh = load_delta(_bert(), path)  # the same backbone weights (seed 0), the method re-applied from the file
    b = _batch()
    with torch.no_grad():
        assert torch.equal(_logits(fresh, b), _logits(tuned, b))
    assert tuning_spec(fresh) == tuning_spec(tuned)


def test_delta_errors(tmp_path):
    with pytest.raises(ValueError, match="no tuning method was applied"):
        save_delta(_bert(), tmp_path / "x.safetensors")
    with pytest.raises(FileNotFoundError, match="save_delta"):
        load_delta(_bert(), tmp_path / "missing.safetensors")
    path = save_delta(apply_lora(_bert(), rank=4), tmp_path / "lora.safetensors")
    with pytest.raises(ValueError, match="does not fit this model"):
        load_delta(_bert(n_classes=5), path)  # another head size
    with pytest.raises(ValueError, match="load it onto a fresh backbone"):
        load_delta(apply_lora(_bert(), rank=2), path)


def test_count_parameters_exact():
    plain = count_parameters(_bert())
    assert plain.trainable == plain.total == sum(p.numel() for p in _bert().parameters())
    assert plain.backbone == plain.total - (CFG.d_model * 3 + 3)
    lora = count_parameters(apply_lora(_bert(), rank=4))
    per_proj = 4 * (CFG.d_model + CFG.d_model)
    assert lora.trainable == 2 * CFG.n_layers * per_proj + CFG.d_model * 3 + 3
    assert lora.trainable_backbone == 2 * CFG.n_layers * per_proj and lora.trainable_bytes == 4 * lora.trainable
    assert lora.backbone == plain.backbone and lora.total == plain.total + 2 * CFG.n_layers * per_proj
    assert abs(lora.percent_of_backbone - 100 * lora.trainable / plain.backbone) < 1e-12


# ---- the wraps act on every path of every model built from the blocks ------------------------------


@pytest.mark.parametrize("method", ["lora", "houlsby"])
def test_the_masked_lm_shortcut_sees_the_wraps(method):
    torch.manual_seed(0)
    model = _randomise(APPLY[method](BertForMaskedLM(CFG)), std=0.2).eval()
    ids = torch.randint(5, 50, (2, 9))
    positions = torch.tensor([[2, 5], [1, 7]])
    with torch.no_grad():
        full, pooled = model.bert(ids)
        short, short_pooled = model.bert(ids, output_positions=positions)  # the masked-LM shortcut
    torch.testing.assert_close(short, full.gather(1, positions[..., None].expand(-1, -1, CFG.d_model)), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(short_pooled, pooled, atol=1e-5, rtol=1e-4)
    assert (full - BertForMaskedLM(CFG).bert.eval()(ids)[0]).abs().max() > 1e-2  # the wraps did change the output


def test_gpt_with_lora_and_the_kv_cache_agree():
    torch.manual_seed(0)
    model = _randomise(apply_lora(GPT(GPTConfig.tiny(vocab_size=40)), rank=2, heads=("lm_head",)), std=0.2).eval()
    assert isinstance(model.blocks[0].attn.q_proj, LoRALinear)
    ids = torch.randint(0, 40, (2, 10))
    with torch.no_grad():
        full = model(ids)
        cache = model.new_cache()
        first = model(ids[:, :6], past_kv=cache)
        rest = model(ids[:, 6:], past_kv=cache)
    torch.testing.assert_close(torch.cat([first, rest], 1), full, atol=1e-5, rtol=1e-4)


# ---- the comparison loop (chapters 13–15) ---------------------------------------------------------


def _tiny_task(kind="sentence"):
    from ptm_course.tuning import Task

    g = torch.Generator().manual_seed(0)

    def split(n):
        ids = torch.randint(5, 50, (n, 9), generator=g)
        t = {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": torch.ones_like(ids)}
        if kind == "sentence":
            t["labels"] = (ids[:, 1] > 27).long()  # learnable from one token
        else:
            t["labels"] = (ids > 27).long()
            t["labels"][:, 0] = -100
        return t

    return Task("toy", kind, 2, split(64), split(32), split(32))


def test_tune_copies_the_backbone_and_is_reproducible():
    from ptm_course.tuning import tune

    backbone = _bert(n_classes=2)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    task = _tiny_task()
    a = tune(backbone, "lora", task, lr=1e-2, steps=6, seed=0, batch_size=16, keep_model=True)
    b = tune(backbone, "lora", task, lr=1e-2, steps=6, seed=0, batch_size=16)
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())  # never changed
    assert a.accuracy == b.accuracy and a.history.train == b.history.train
    assert a.count.trainable == count_parameters(apply_lora(_bert(n_classes=2), rank=8, alpha=16)).trainable
    assert a.model is not None and b.model is None and a.seconds_per_step > 0
    c = tune(backbone, "lora", task, lr=1e-2, steps=6, seed=1, batch_size=16)
    assert c.history.train != a.history.train  # another seed, another run


def test_tune_takes_a_method_with_its_own_settings():
    """apply= runs a method that METHODS does not list (prefix-tuning, chapter 14) through the same loop:
    the backbone is unchanged, only the prefix and the head trained, and the run is reproducible."""
    from ptm_course.tuning import apply_prefix, tune

    backbone = _bert(n_classes=2)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    task = _tiny_task()
    a = tune(backbone, "prefix-4", task, lr=1e-2, steps=5, seed=0, batch_size=16, keep_model=True,
             apply=lambda m: apply_prefix(m, length=4, hidden=8))
    b = tune(backbone, "prefix-4", task, lr=1e-2, steps=5, seed=0, batch_size=16,
             apply=lambda m: apply_prefix(m, length=4, hidden=8))
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())
    assert a.method == "prefix-4" and a.history.train == b.history.train and a.accuracy == b.accuracy
    trained = {n for n, p in a.model.named_parameters() if p.requires_grad}
    assert trained and all(n.startswith(("prefix.", "classifier.")) for n in trained)
    moved = [n for n, p in a.model.named_parameters()  # WithPrefix holds the block's attention as .attn
             if n.startswith("bert.") and not torch.equal(p, before[n.replace(".attn.attn.", ".attn.")])]
    assert moved == []  # the frozen blocks did not move
    assert a.count.trainable == sum(p.numel() for n, p in a.model.named_parameters() if n in trained)
    with pytest.raises(ValueError, match="apply must be a function"):
        tune(backbone, "prefix", task, lr=1e-3, steps=1, apply="prefix")


def test_tune_token_task_and_errors():
    from ptm_course.models.bert import BertForTokenClassification
    from ptm_course.tuning import task_accuracy, tune

    torch.manual_seed(0)
    task = _tiny_task("token")
    model = BertForTokenClassification(CFG, 2)
    run = tune(model, "bitfit", task, lr=1e-2, steps=4, batch_size=16, eval_splits=("test", "valid"), keep_model=True)
    manual = _logits(run.model.eval(), task.test).argmax(-1)
    keep = task.test["labels"] != -100
    assert run.accuracy == run.scores["test"] == task_accuracy(run.model, task.test, task)
    assert run.scores["valid"] == task_accuracy(run.model, task.valid, task)
    assert abs(run.accuracy - (manual[keep] == task.test["labels"][keep]).float().mean().item()) < 1e-6
    with pytest.raises(ValueError, match="task head `classifier`"):
        tune(BertForMaskedLM(CFG), "lora", task, lr=1e-3, steps=1)
    with pytest.raises(ValueError, match="unknown method 'prefix'.*apply="):
        tune(model, "prefix", task, lr=1e-3, steps=1)
    with pytest.raises(ValueError, match="eval_splits"):
        tune(model, "full", task, lr=1e-3, steps=1, eval_splits=("train",))
    with pytest.raises(ValueError, match="eval_splits"):
        tune(model, "full", task, lr=1e-3, steps=1, eval_splits="test")
    from ptm_course.tuning import load_task

    with pytest.raises(ValueError, match="unknown task 'sst2'"):
        load_task("sst2", None)


def test_mean_pool_classifier_ignores_padding_and_takes_every_method():
    from ptm_course.models.bert import BertMeanPoolClassifier

    torch.manual_seed(0)
    model = BertMeanPoolClassifier(CFG, 2).eval()
    ids = torch.randint(5, 50, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], 1)
    mask = torch.tensor([[1] * 6 + [0] * 3])
    with torch.no_grad():
        h, _ = model.bert(ids)
        torch.testing.assert_close(model(padded, None, mask), model.classifier(h.mean(1)), atol=1e-5, rtol=1e-4)
    for name, apply in APPLY.items():
        m = apply(BertMeanPoolClassifier(CFG, 2))
        assert {"classifier.weight", "classifier.bias"} <= {n for n, p in m.named_parameters() if p.requires_grad}
