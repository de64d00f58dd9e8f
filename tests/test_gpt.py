"""The course's GPT: causality, the KV cache, padding, sampling, parity with HF GPT-2 / GPT-1, checkpoints."""

from __future__ import annotations

import inspect

import pytest
import torch

from ptm_course.models.generation import generate, sample_next, top_k_filter, top_p_filter
from ptm_course.models.gpt import (
    GPT,
    GPTConfig,
    PretrainedNotAvailableError,
    gpt_config_from_hf,
    gpt_config_to_hf,
    gpt_param_count,
    lm_loss,
    load_hf_gpt2_weights,
    load_pretrained_gpt2,
    save_gpt2_checkpoint,
)
from ptm_course.models.transformer import MultiHeadAttention, StaticKV
from ptm_course.train import fit

TOL = 1e-5


def _cfg(**kw) -> GPTConfig:
    return GPTConfig.tiny(**{**dict(vocab_size=99, dropout=0.0, attn_dropout=0.0), **kw})


def _ids(B=2, T=11, seed=0, vocab=99):
    return torch.randint(0, vocab, (B, T), generator=torch.Generator().manual_seed(seed))


def _model(seed=0, **kw) -> GPT:
    torch.manual_seed(seed)
    return GPT(_cfg(**kw)).eval()


# ---------------------------------------------------------------- the model alone


@pytest.mark.parametrize("layout", ["pre_ln", "post_ln"])
def test_changing_a_later_token_leaves_earlier_logits_alone(layout):
    model = _model(layout=layout)
    ids = _ids(B=1, T=10)
    ids2 = ids.clone()
    ids2[0, 6] = (ids[0, 6] + 1) % 99
    a, b = model(ids), model(ids2)
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-6)
    assert not torch.allclose(a[:, 6:], b[:, 6:], atol=1e-4)


def test_shapes_tied_head_and_init():
    model = _model()
    assert model(_ids()).shape == (2, 11, 99)
    assert model.lm_head.weight is model.wte.weight
    cfg = GPTConfig.tiny(n_layers=8, d_model=64)
    torch.manual_seed(0)
    big = GPT(cfg)
    want = cfg.init_std / (2 * cfg.n_layers) ** 0.5  # residual projections: 0.02/√(2·L)
    assert abs(big.blocks[0].attn.o_proj.weight.std().item() - want) < 0.15 * want
    assert abs(big.blocks[0].ffn.fc2.weight.std().item() - want) < 0.15 * want
    assert abs(big.blocks[0].attn.q_proj.weight.std().item() - 0.02) < 0.003


def test_param_count_formula_matches_the_model():
    for cfg in (_cfg(), _cfg(layout="post_ln", activation="gelu"), GPTConfig.small()):
        assert gpt_param_count(cfg) == sum(p.numel() for p in GPT(cfg).parameters())
    assert gpt_param_count(GPTConfig.gpt2()) == 124_439_808


def test_kv_cache_equals_recompute_logits_and_greedy_tokens():
    model = _model()
    ids = _ids(B=2, T=12)
    full = model(ids)
    cache = model.new_cache()
    parts = [model(ids[:, :5], past_kv=cache)] + [model(ids[:, t:t + 1], past_kv=cache) for t in range(5, 12)]
    assert torch.allclose(torch.cat(parts, 1), full, atol=TOL)
    prompt = ids[:, :4]
    cached = model.generate(prompt, 30, temperature=0, use_cache=True)
    recomputed = model.generate(prompt, 30, temperature=0, use_cache=False)
    assert cached.shape == (2, 34) and torch.equal(cached, recomputed)
    assert torch.equal(cached[:, :4], prompt)


def test_position_ids_override_the_counted_positions():
    model = _model()
    ids = _ids(B=2, T=12)
    cache = model.new_cache()
    model(ids[:, :6], past_kv=cache)
    counted = model(ids[:, 6:], past_kv=cache)
    cache2 = model.new_cache()
    model(ids[:, :6], past_kv=cache2)
    explicit = model(ids[:, 6:], past_kv=cache2, position_ids=torch.arange(6, 12))
    assert torch.allclose(counted, explicit, atol=TOL)  # the same positions, said explicitly
    cache3 = model.new_cache()
    model(ids[:, :6], past_kv=cache3)
    restarted = model(ids[:, 6:], past_kv=cache3, position_ids=torch.arange(6))
    assert not torch.allclose(counted, restarted, atol=1e-3)  # positions restarted at 0: other logits
    with pytest.raises(ValueError, match="position_ids must lie in"):
        model(ids, position_ids=torch.arange(12) + model.config.max_len)
    with pytest.raises(ValueError, match="shape"):
        model(ids, position_ids=torch.arange(5))


def test_left_padded_batch_generates_what_each_prompt_generates_alone():
    model = _model()
    long, short = _ids(B=1, T=7, seed=1), _ids(B=1, T=4, seed=2)
    pad = torch.zeros(1, 3, dtype=torch.long)
    batch = torch.cat([long, torch.cat([pad, short], 1)])  # (2, 7), row 1 left-padded
    mask = torch.tensor([[1] * 7, [0] * 3 + [1] * 4])
    for use_cache in (True, False):
        out = model.generate(batch, 10, temperature=0, attention_mask=mask, use_cache=use_cache)
        assert torch.equal(out[0], model.generate(long, 10, temperature=0)[0])
        assert torch.equal(out[1, 3:], model.generate(short, 10, temperature=0)[0])
    # the forward pass too: the padded row's real positions give the unpadded logits
    assert torch.allclose(model(batch, attention_mask=mask)[1, 3:], model(short)[0], atol=TOL)


def test_a_static_prefix_enters_every_layer_through_past_kv():
    model = _model()
    cfg = model.config
    torch.manual_seed(1)
    prefix = [StaticKV(torch.randn(cfg.n_heads, 3, cfg.d_model // cfg.n_heads),
                       torch.randn(cfg.n_heads, 3, cfg.d_model // cfg.n_heads)) for _ in range(cfg.n_layers)]
    ids = _ids(B=2, T=6)
    with_prefix = model(ids, past_kv=prefix)
    assert with_prefix.shape == (2, 6, 99)
    assert not torch.allclose(with_prefix, model(ids), atol=1e-3)
    # an attention mask over the new tokens only is extended by ones over the prefix
    assert torch.allclose(model(ids, attention_mask=torch.ones(2, 6), past_kv=prefix), with_prefix, atol=TOL)


def test_a_zero_initialised_wrapper_changes_nothing_also_through_the_cache():
    from test_transformer import _wrap

    model = _model()
    ids = _ids(B=2, T=5)
    ref = model.generate(ids, 8, temperature=0)
    ref_logits = model(ids)
    wrappers = _wrap(model)
    assert torch.allclose(model(ids), ref_logits, atol=1e-6)
    assert torch.equal(model.generate(ids, 8, temperature=0), ref)
    assert all(w.calls > 0 for w in wrappers)


def test_overfit_one_batch():
    model = _model()
    batch = {"input_ids": _ids(B=4, T=16)}
    first = lm_loss(model, batch)[0].item()
    assert abs(first - torch.log(torch.tensor(99.0)).item()) < 0.3  # uniform guesses at init
    fit(model, [batch], lm_loss, max_steps=150, lr=3e-3, log_every=50, progress=False, device="cpu")
    model.eval()
    loss, metrics = lm_loss(model, batch)
    assert loss.item() < 0.05 * first and metrics["acc"] > 0.95


def test_lm_loss_ignores_padding_and_shifts_by_one():
    model = _model()
    ids = _ids(B=2, T=8)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    loss, _ = lm_loss(model, {"input_ids": ids, "attention_mask": mask})
    logits = model(ids, attention_mask=mask)
    ce = torch.nn.functional.cross_entropy
    terms = [ce(logits[0, :-1], ids[0, 1:], reduction="sum"), ce(logits[1, :4], ids[1, 1:5], reduction="sum")]
    assert torch.allclose(loss, sum(terms) / (7 + 4), atol=1e-5)


def test_bad_inputs_fail_clearly():
    model = _model()
    with pytest.raises(ValueError, match="exceeds the model's max_len"):
        model.generate(_ids(T=60), 10)
    with pytest.raises(ValueError, match="exceed max_len"):
        model(_ids(T=65))
    with pytest.raises(ValueError, match=r"\(batch, seq_len\)"):
        model(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="attention_mask must be"):
        model(_ids(T=5), attention_mask=torch.ones(2, 4))
    with pytest.raises(ValueError, match="one entry per layer"):
        model(_ids(T=5), past_kv=model.new_cache()[:1])
    with pytest.raises(ValueError, match="layout"):
        GPTConfig(layout="sandwich")
    with pytest.raises(ValueError, match="temperature"):
        model.generate(_ids(T=3), 2, temperature=-1)


def test_load_pretrained_gpt2_offline_names_the_offline_alternative(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PretrainedNotAvailableError, match="SmolLM2"):
        load_pretrained_gpt2("gpt2")
    with pytest.raises(PretrainedNotAvailableError, match="unknown GPT-2 checkpoint"):
        load_pretrained_gpt2("gpt-5")


# ---------------------------------------------------------------- sampling


def test_temperature_zero_is_argmax_and_a_seed_reproduces_a_sample():
    logits = torch.randn(3, 50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sample_next(logits, temperature=0)[:, 0], logits.argmax(-1))
    a = sample_next(logits, 1.0, generator=torch.Generator().manual_seed(7))
    b = sample_next(logits, 1.0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    model = _model()
    prompt = _ids(B=2, T=3)
    s1 = model.generate(prompt, 20, temperature=1.0, top_p=0.9, generator=torch.Generator().manual_seed(3))
    s2 = model.generate(prompt, 20, temperature=1.0, top_p=0.9, generator=torch.Generator().manual_seed(3))
    s3 = model.generate(prompt, 20, temperature=1.0, top_p=0.9, generator=torch.Generator().manual_seed(4))
    assert torch.equal(s1, s2) and not torch.equal(s1, s3)


def test_top_k_never_emits_outside_the_k_best():
    logits = torch.randn(4, 30, generator=torch.Generator().manual_seed(0))
    best = logits.topk(5, dim=-1).indices
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        tok = sample_next(logits, 2.0, top_k=5, generator=g)  # a high temperature spreads the draws
        assert (tok == best).any(-1).all()


def test_top_p_keeps_the_smallest_set_with_mass_at_least_p():
    probs = torch.tensor([[0.4, 0.3, 0.2, 0.1], [0.9, 0.05, 0.03, 0.02]])
    kept = top_p_filter(probs.log(), 0.65).isfinite()
    assert kept.tolist() == [[True, True, False, False], [True, False, False, False]]
    kept = top_p_filter(probs.log(), 0.95).isfinite()
    assert kept.tolist() == [[True, True, True, True], [True, True, False, False]]
    # shuffled vocabulary order: the same set, found by probability, not by index
    perm = torch.tensor([2, 0, 3, 1])
    assert torch.equal(top_p_filter(probs.log()[:, perm], 0.65).isfinite(), kept_at(probs, 0.65)[:, perm])
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(probs, 0.0)
    with pytest.raises(ValueError, match="top_k"):
        top_k_filter(probs, 0)


def kept_at(probs, p):
    return top_p_filter(probs.log(), p).isfinite()


@pytest.mark.parity
def test_top_k_and_top_p_equal_transformers_warpers():
    gen = pytest.importorskip("transformers.generation.logits_process")
    logits = torch.randn(6, 200, generator=torch.Generator().manual_seed(0))
    for p in (0.1, 0.5, 0.9, 0.99):
        ref = gen.TopPLogitsWarper(p)(None, logits.clone())
        assert torch.equal(top_p_filter(logits, p).isfinite(), ref.isfinite()), p
    for k in (1, 5, 50):
        ref = gen.TopKLogitsWarper(k)(None, logits.clone())
        assert torch.equal(top_k_filter(logits, k).isfinite(), ref.isfinite()), k


# ---------------------------------------------------------------- parity with Hugging Face


def _hf_pair(layout="pre_ln"):
    transformers = pytest.importorskip("transformers")
    if layout == "pre_ln":
        cfg = _cfg()
        hf_cls, hf_cfg = transformers.GPT2LMHeadModel, transformers.GPT2Config
    else:
        cfg = _cfg(layout="post_ln", activation="gelu")
        hf_cls, hf_cfg = transformers.OpenAIGPTLMHeadModel, transformers.OpenAIGPTConfig
    torch.manual_seed(0)
    hf = hf_cls(hf_cfg(**gpt_config_to_hf(cfg), bos_token_id=0, eos_token_id=0)).eval()
    ours = GPT(gpt_config_from_hf(hf.config.to_dict())).eval()
    assert ours.config == cfg
    load_hf_gpt2_weights(ours, hf.state_dict())
    return hf, ours


@pytest.mark.parity
@pytest.mark.parametrize("layout", ["pre_ln", "post_ln"])
def test_logits_equal_hf(layout):
    hf, ours = _hf_pair(layout)
    ids = _ids(B=3, T=20)
    with torch.no_grad():
        assert (ours(ids) - hf(ids).logits).abs().max() <= TOL


@pytest.mark.parity
def test_cached_logits_and_greedy_generation_equal_hf_gpt2():
    hf, ours = _hf_pair()
    ids = _ids(B=2, T=12)
    cache_kw = "past_key_values" if "past_key_values" in inspect.signature(hf.forward).parameters else "cache"
    with torch.no_grad():
        out = hf(ids[:, :7], use_cache=True)
        cache = ours.new_cache()
        assert (ours(ids[:, :7], past_kv=cache) - out.logits).abs().max() <= TOL
        step = hf(ids[:, 7:], use_cache=True, **{cache_kw: out.past_key_values})
        assert (ours(ids[:, 7:], past_kv=cache) - step.logits).abs().max() <= TOL
        ref = hf.generate(ids[:, :5], max_new_tokens=40, do_sample=False, pad_token_id=0)
    assert torch.equal(ours.generate(ids[:, :5], 40, temperature=0), ref)


@pytest.mark.parity
def test_padded_batch_equals_hf_with_position_ids():
    hf, ours = _hf_pair()
    ids = _ids(B=2, T=9)
    mask = torch.tensor([[1] * 9, [0] * 4 + [1] * 5])
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        ref = hf(ids, attention_mask=mask, position_ids=pos).logits
        got = ours(ids, attention_mask=mask)
    assert (got - ref)[mask.bool()].abs().max() <= TOL  # padded positions are never read


@pytest.mark.parity
def test_round_trip_through_a_gpt2_checkpoint(tmp_path):
    transformers = pytest.importorskip("transformers")
    ours = _model(seed=3)
    save_gpt2_checkpoint(ours, tmp_path / "gpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpt"]  # no temporary folder left
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "gpt").eval()
    ids = _ids()
    with torch.no_grad():
        assert (hf(ids).logits - ours(ids)).abs().max() <= TOL
    back = load_pretrained_gpt2(str(tmp_path / "gpt"))  # a local folder loads offline
    assert torch.allclose(back(ids), ours(ids), atol=TOL)


@pytest.mark.parity
def test_loading_conv1d_weights_without_the_transpose_is_silently_wrong():
    """The classic bug: c_proj is square, so an untransposed copy loads without complaint."""
    hf, ours = _hf_pair()
    sd = dict(hf.state_dict())
    for k in [k for k in sd if k.endswith("attn.c_proj.weight")]:
        sd[k] = sd[k].t()  # what a loader that forgets the transpose would copy
    wrong = GPT(ours.config).eval()
    load_hf_gpt2_weights(wrong, sd)  # no shape error...
    ids = _ids()
    with torch.no_grad():
        assert (wrong(ids) - hf(ids).logits).abs().max() > 100 * TOL  # ...but other logits


@pytest.mark.parity
def test_param_counts_equal_hf_gpt2_sizes():
    transformers = pytest.importorskip("transformers")
    for cfg in (GPTConfig.gpt2(), GPTConfig.gpt2_medium(), GPTConfig.gpt2_xl(), GPTConfig.gpt1()):
        hf_cls = transformers.GPT2LMHeadModel if cfg.layout == "pre_ln" else transformers.OpenAIGPTLMHeadModel
        hf_cfg = (transformers.GPT2Config if cfg.layout == "pre_ln" else transformers.OpenAIGPTConfig)(**gpt_config_to_hf(cfg))
        with torch.device("meta"):
            n = sum(p.numel() for p in hf_cls(hf_cfg).parameters())  # tied head counted once
        assert gpt_param_count(cfg) == n, cfg


def test_hf_config_errors():
    with pytest.raises(ValueError, match="model_type"):
        gpt_config_from_hf({"model_type": "bert"})
    with pytest.raises(ValueError, match="activation"):
        gpt_config_from_hf({"model_type": "gpt2", "activation_function": "swish", "vocab_size": 9,
                            "n_embd": 8, "n_layer": 1, "n_head": 2})
    with pytest.raises(ValueError, match="layout"):
        load_hf_gpt2_weights(GPT(_cfg(layout="post_ln")), {"transformer.wte.weight": torch.zeros(99, 32),
                                                           "transformer.wpe.weight": torch.zeros(64, 32)})


def test_generation_contract_checks():
    model = _model()
    with pytest.raises(ValueError, match="prompt_len"):
        generate(model, torch.zeros(2, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="must match input_ids"):
        generate(model, _ids(T=4), 3, attention_mask=torch.ones(2, 5))
    out = generate(model, _ids(T=4), 0)
    assert out.shape == (2, 4)
    # eos: a row that produced it keeps producing it; all rows done -> stop early
    eos = int(model.generate(_ids(B=1, T=4), 1, temperature=0)[0, -1])
    out = model.generate(_ids(B=1, T=4), 10, temperature=0, eos_token_id=eos)
    assert out.shape == (1, 5) and out[0, -1] == eos
    assert isinstance(model.blocks[0].attn, MultiHeadAttention)
