"""Prompt tuning: the models' inputs_embeds path equals the ids path, the soft prompt is exactly
[prompt; E[x]] through the frozen model, only the prompt (and a head) trains, padding stays
invisible, the three inits do what they say, and the delta round-trips."""

from __future__ import annotations

import copy

import pytest
import torch

from ptm_course.data.wordpiece import load_wordpiece
from ptm_course.models.bert import (BertConfig, BertForMaskedLM, BertForSequenceClassification,
                                    BertForTokenClassification, BertMeanPoolClassifier, BertModel, mlm_loss,
                                    sequence_classification_loss)
from ptm_course.models.gpt import GPT, GPTConfig, lm_loss
from ptm_course.tuning import (SoftPrompt, WithSoftPrompt, apply_lora, apply_soft_prompt, count_parameters, load_delta,
                               save_delta, tuning_spec)

CFG = BertConfig.tiny(vocab_size=50, max_len=32, dropout=0.0, attn_dropout=0.0)  # d 32, 2 layers, 4 heads
GCFG = GPTConfig.tiny(vocab_size=50, max_len=32, dropout=0.0, attn_dropout=0.0)
P = 4
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "is", "this", "review", "positive", "or", "negative", "?",
         "the", "movie", "great", "terrible"]


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return load_wordpiece(path)


def _bert(cls=None, *args, seed=0):
    if cls is None:
        cls, args = BertForSequenceClassification, (3,)
    torch.manual_seed(seed)
    return cls(CFG, *args).eval()


def _gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(GCFG).eval()


def _batch(seed=1, B=3, T=9):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 50, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 6:] = 0  # row 1: right padding (BERT)
    types = torch.zeros(B, T, dtype=torch.long)
    types[:, 5:] = 1
    return ids, mask, types


def _randomise(prompt: SoftPrompt, seed=3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        prompt.embedding.weight.copy_(torch.randn(prompt.embedding.weight.shape, generator=g))


# --------------------------------------------------------------------------------------------
# The general input path: inputs_embeds
# --------------------------------------------------------------------------------------------


def test_bert_inputs_embeds_equals_ids():
    bert = _bert(BertModel)
    ids, mask, types = _batch()
    words = bert.embeddings.word_embeddings(ids)
    with torch.no_grad():
        for pos in (None, torch.tensor([[0, 3], [2, 5], [8, 1]])):
            h, pooled = bert(ids, types, mask, output_positions=pos)
            h2, pooled2 = bert(None, types, mask, output_positions=pos, inputs_embeds=words)
            assert torch.equal(h, h2) and torch.equal(pooled, pooled2)
        assert torch.equal(bert.embeddings(ids), bert.embeddings(inputs_embeds=words))


def test_gpt_inputs_embeds_equals_ids():
    gpt = _gpt()
    ids, _, _ = _batch()
    left = torch.ones_like(ids)
    left[1, :3] = 0  # left padding (GPT)
    with torch.no_grad():
        assert torch.equal(gpt(ids, attention_mask=left), gpt(inputs_embeds=gpt.wte(ids), attention_mask=left))
        cache_a, cache_b = gpt.new_cache(), gpt.new_cache()
        a0, b0 = gpt(ids[:, :5], past_kv=cache_a), gpt(inputs_embeds=gpt.wte(ids[:, :5]), past_kv=cache_b)
        a1, b1 = gpt(ids[:, 5:], past_kv=cache_a), gpt(inputs_embeds=gpt.wte(ids[:, 5:]), past_kv=cache_b)
    assert torch.equal(a0, b0) and torch.equal(a1, b1)


def test_inputs_embeds_errors():
    bert, gpt = _bert(BertModel), _gpt()
    ids, _, _ = _batch()
    for model, embed in ((bert, bert.embeddings.word_embeddings), (gpt, gpt.wte)):
        with pytest.raises(ValueError, match="exactly one of input_ids"):
            model(ids, inputs_embeds=embed(ids))
        with pytest.raises(ValueError, match="exactly one of input_ids"):
            model()
        with pytest.raises(ValueError, match="inputs_embeds must be"):
            model(inputs_embeds=torch.zeros(3, 9))  # no feature dimension
        with pytest.raises(ValueError, match="d_model=32"):
            model(inputs_embeds=torch.zeros(3, 9, 16))


# --------------------------------------------------------------------------------------------
# The soft prompt: [prompt; E[x]] through the frozen model, the input's positions returned
# --------------------------------------------------------------------------------------------


def test_bert_prompt_is_prepended_embeddings():
    """WithSoftPrompt = BertModel(inputs_embeds=[p; E[x]], mask with P ones in front, segments 0 for the
    prompt), the input's T positions kept; pooled from the real [CLS] (position P)."""
    model = apply_soft_prompt(_bert(), P)
    _randomise(model.bert.soft_prompt)
    assert isinstance(model.bert, WithSoftPrompt)
    bert, prompt = model.bert.encoder, model.bert.soft_prompt.embedding.weight
    ids, mask, types = _batch()
    B = ids.shape[0]
    x = torch.cat([prompt.expand(B, -1, -1), bert.embeddings.word_embeddings(ids)], dim=1)
    wide_mask = torch.cat([torch.ones(B, P, dtype=torch.long), mask], dim=1)
    wide_types = torch.cat([torch.zeros(B, P, dtype=torch.long), types], dim=1)
    with torch.no_grad():
        want, _ = bert(None, wide_types, wide_mask, inputs_embeds=x)  # (B, P + T, C)
        h, pooled = model.bert(ids, types, mask)
        logits = model(ids, types, mask)
        plain, _ = bert(ids, types, mask)
    assert h.shape == (B, 9, CFG.d_model)
    assert torch.allclose(h, want[:, P:], atol=1e-6)
    assert torch.allclose(pooled, torch.tanh(bert.pooler(want[:, P])), atol=1e-6)
    assert torch.allclose(logits, model.classifier(pooled), atol=1e-6)
    assert (h - plain).abs().max() > 1e-3  # the prompt changes what the tokens compute


def test_bert_output_positions_account_for_the_prompt():
    """output_positions name positions of the input (as without a prompt): shifted by P inside."""
    model = apply_soft_prompt(_bert(BertForMaskedLM), P)
    _randomise(model.bert.soft_prompt)
    ids, mask, types = _batch()
    pos = torch.tensor([[1, 4], [5, 2], [8, 0]])
    with torch.no_grad():
        full, pooled = model.bert(ids, types, mask)
        at, pooled_at = model.bert(ids, types, mask, output_positions=pos)
    assert at.shape == (3, 2, CFG.d_model)
    assert torch.allclose(at, full.gather(1, pos[:, :, None].expand(-1, -1, CFG.d_model)), atol=1e-5)
    assert torch.allclose(pooled_at, pooled, atol=1e-5)
    labels = torch.full_like(ids, -100)
    labels[:, 2] = ids[:, 2]
    batch = {"input_ids": ids, "attention_mask": mask, "mlm_labels": labels}
    gathered = mlm_loss(model, {**batch, "mlm_positions": torch.full((3, 1), 2)})[0]
    assert torch.allclose(mlm_loss(model, batch)[0], gathered, atol=1e-5)


def test_heads_get_the_inputs_positions():
    ids, mask, types = _batch()
    for cls, args, shape in ((BertForTokenClassification, (5,), (3, 9, 5)), (BertMeanPoolClassifier, (2,), (3, 2)),
                             (BertForMaskedLM, (), (3, 9, 50))):
        model = apply_soft_prompt(_bert(cls, *args), P)
        with torch.no_grad():
            assert model(ids, types, mask).shape == shape
    gpt = apply_soft_prompt(_gpt(), P)
    with torch.no_grad():
        assert gpt(ids).shape == (3, 9, 50)


def test_mean_pool_is_over_the_real_tokens():
    model = apply_soft_prompt(_bert(BertMeanPoolClassifier, 2), P)
    _randomise(model.bert.soft_prompt)
    ids, mask, types = _batch()
    with torch.no_grad():
        h, _ = model.bert(ids, types, mask)
        w = mask[..., None].float()
        want = model.classifier((h * w).sum(1) / w.sum(1))
        assert torch.allclose(model(ids, types, mask), want, atol=1e-6)


def test_gpt_prompt_is_prepended_embeddings():
    gpt = apply_soft_prompt(_gpt(), P)
    _randomise(gpt.soft_prompt)
    ids, _, _ = _batch()
    B = ids.shape[0]
    prompt = gpt.soft_prompt.embedding.weight
    with torch.no_grad():
        got = gpt(ids)
        # the same call without the hooks: a fresh GPT with the same weights, given [p; E[x]]
        plain = _gpt()
        want = plain(inputs_embeds=torch.cat([prompt.expand(B, -1, -1), plain.wte(ids)], dim=1))
    assert got.shape == (B, 9, 50)
    assert torch.allclose(got, want[:, P:], atol=1e-6)
    assert (got - plain(ids)).abs().max() > 1e-3


def test_gpt_generate_with_a_prompt_cache_equals_recompute():
    gpt = apply_soft_prompt(_gpt(), P)
    _randomise(gpt.soft_prompt)
    ids, _, _ = _batch()
    left = torch.ones_like(ids)
    left[1, :3] = 0
    cached = gpt.generate(ids, 5, temperature=0, attention_mask=left)
    recomputed = gpt.generate(ids, 5, temperature=0, attention_mask=left, use_cache=False)
    assert torch.equal(cached, recomputed)
    with torch.no_grad():
        assert torch.equal(cached[:, 9], gpt(ids, attention_mask=left)[:, -1].argmax(-1))


# --------------------------------------------------------------------------------------------
# What trains
# --------------------------------------------------------------------------------------------


def test_only_the_prompt_and_the_head_get_gradients():
    ids, mask, types = _batch()
    cases = [(apply_soft_prompt(_bert(BertForSequenceClassification, 3), P),
              {"bert.soft_prompt.embedding.weight", "classifier.weight", "classifier.bias"}),
             (apply_soft_prompt(_bert(BertForMaskedLM), P), {"bert.soft_prompt.embedding.weight"}),
             (apply_soft_prompt(_gpt(), P), {"soft_prompt.embedding.weight"})]
    for model, want in cases:
        model.train()
        out = model(ids, attention_mask=mask)
        out.float().pow(2).mean().backward()
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        assert trainable == with_grad == want


def test_parameter_count():
    model = apply_soft_prompt(_bert(BertForSequenceClassification, 3), P)
    count = count_parameters(model)
    head = CFG.d_model * 3 + 3
    assert count.trainable == P * CFG.d_model + head
    assert count.trainable_backbone == P * CFG.d_model
    assert count.backbone == count_parameters(_bert(BertForSequenceClassification, 3)).backbone  # the prompt is added


@pytest.mark.parametrize("kind", ["bert", "gpt"])
def test_backbone_unchanged_after_training(kind):
    ids, mask, types = _batch()
    if kind == "bert":
        model = apply_soft_prompt(_bert(BertMeanPoolClassifier, 2), P)
        batch = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "labels": torch.tensor([0, 1, 1])}
        loss_fn, keep = sequence_classification_loss, ("bert.soft_prompt.", "classifier.")
    else:
        model = apply_soft_prompt(_gpt(), P)
        batch, loss_fn, keep = {"input_ids": ids}, lm_loss, ("soft_prompt.",)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.train()
    losses = []
    for _ in range(5):  # plain SGD (an optimizer's first construction imports torch._dynamo: seconds)
        loss, _ = loss_fn(model, batch)
        grads = torch.autograd.grad(loss, trainable)
        with torch.no_grad():
            for p, g in zip(trainable, grads):
                p -= 0.5 * g
        losses.append(loss.item())
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(keep) for k in changed)
    assert any(k.startswith(keep[0]) for k in changed)  # the prompt itself moved
    assert losses[-1] < losses[0]


# --------------------------------------------------------------------------------------------
# Padding
# --------------------------------------------------------------------------------------------


def test_bert_padding_stays_invisible():
    model = apply_soft_prompt(_bert(BertMeanPoolClassifier, 2), P)
    _randomise(model.bert.soft_prompt)
    ids, mask, types = _batch()
    other = ids.clone()
    other[1, 6:] = 7  # change row 1's padded tokens only
    real = mask.bool()
    with torch.no_grad():
        h, pooled = model.bert(ids, types, mask)
        h2, pooled2 = model.bert(other, types, mask)
        assert torch.allclose(h[real], h2[real], atol=1e-6) and torch.allclose(pooled, pooled2, atol=1e-6)
        assert torch.allclose(model(ids, types, mask), model(other, types, mask), atol=1e-6)
        alone, _ = model.bert(ids[1:2, :6], types[1:2, :6])  # row 1 without its padding
    assert torch.allclose(h[1, :6], alone[0], atol=1e-5)


def test_gpt_left_padding_stays_invisible():
    gpt = apply_soft_prompt(_gpt(), P)
    _randomise(gpt.soft_prompt)
    ids, _, _ = _batch()
    left = torch.ones_like(ids)
    left[1, :3] = 0
    other = ids.clone()
    other[1, :3] = 7
    with torch.no_grad():
        a, b = gpt(ids, attention_mask=left), gpt(other, attention_mask=left)
        alone = gpt(ids[1:2, 3:])  # row 1 without its padding: the same positions P.. after the prompt
    assert torch.allclose(a[left.bool()], b[left.bool()], atol=1e-6)
    assert torch.allclose(a[1, 3:], alone[0], atol=1e-5)


# --------------------------------------------------------------------------------------------
# Inits
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [3, 10])
def test_text_init_is_the_texts_embeddings(tok, length):
    text = "is this review positive or negative?"
    ids = tok.encode(text, add_special_tokens=False).ids  # 7 tokens, no [CLS]/[SEP]
    assert len(ids) == 7
    want = (ids * 2)[:length]  # cut (3) or repeated (10)
    model = apply_soft_prompt(_bert(BertForMaskedLM), length, init="text", tok=tok, text=text)
    E = model.bert.embeddings.word_embeddings.weight
    assert torch.equal(model.bert.soft_prompt.embedding.weight, E[want])
    gpt = apply_soft_prompt(_gpt(), length, init="text", tok=tok, text=text)
    assert torch.equal(gpt.soft_prompt.embedding.weight, gpt.wte.weight[want])
    assert tuning_spec(gpt)["text"] == text


def test_vocab_init_draws_distinct_vocabulary_rows(tok):
    model = apply_soft_prompt(_bert(BertForMaskedLM), 8, init="vocab", tok=tok, seed=1)
    E = model.bert.embeddings.word_embeddings.weight
    prompt = model.bert.soft_prompt.embedding.weight
    rows = [int((E == p).all(-1).nonzero()[0]) for p in prompt]  # which token each vector is
    assert len(set(rows)) == 8 and not set(rows) & {0, 1, 2, 3, 4}  # distinct, no special token
    again = apply_soft_prompt(_bert(BertForMaskedLM), 8, init="vocab", tok=tok, seed=1)
    other = apply_soft_prompt(_bert(BertForMaskedLM), 8, init="vocab", tok=tok, seed=2)
    assert torch.equal(again.bert.soft_prompt.embedding.weight, prompt)
    assert not torch.equal(other.bert.soft_prompt.embedding.weight, prompt)


def test_random_init_has_the_embeddings_scale():
    model = apply_soft_prompt(_bert(BertForMaskedLM), 32, init="random", seed=0)
    E = model.bert.embeddings.word_embeddings.weight.detach()
    prompt = model.bert.soft_prompt.embedding.weight.detach()  # 32 × 32 draws of N(0, σ_E²)
    assert abs(float(prompt.std()) / float(E.std()) - 1) < 0.1 and abs(float(prompt.mean())) < 0.01
    assert not any((E == p).all(-1).any() for p in prompt)
    again = apply_soft_prompt(_bert(BertForMaskedLM), 32, init="random", seed=0)
    assert torch.equal(again.bert.soft_prompt.embedding.weight, prompt)


# --------------------------------------------------------------------------------------------
# The delta
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bert", "gpt"])
def test_save_load_delta_round_trip(tmp_path, tok, kind):
    from safetensors import safe_open

    ids, mask, types = _batch()
    if kind == "bert":
        fresh = lambda: _bert(BertForSequenceClassification, 3)  # noqa: E731
        model = apply_soft_prompt(fresh(), P, init="text", tok=tok, text="the movie is")
        _randomise(model.bert.soft_prompt)
        with torch.no_grad():
            model.classifier.bias.add_(1.0)
        keys = {"bert.soft_prompt.embedding.weight", "classifier.weight", "classifier.bias"}
        run = lambda m: m(ids, types, mask)  # noqa: E731
    else:
        fresh = _gpt
        model = apply_soft_prompt(fresh(), P, init="random")
        _randomise(model.soft_prompt)
        keys = {"soft_prompt.embedding.weight"}
        run = lambda m: m(ids, attention_mask=mask)  # noqa: E731
    path = save_delta(model, tmp_path / "task.prompt.safetensors")
    with safe_open(str(path), framework="pt") as f:
        assert set(f.keys()) == keys
    loaded = load_delta(fresh(), path)  # no tokenizer needed: the values come from the file
    assert tuning_spec(loaded) == tuning_spec(model)
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    with torch.no_grad():
        assert torch.equal(run(model), run(loaded))


def test_copies_are_independent():
    gpt = apply_soft_prompt(_gpt(), P)
    ids, _, _ = _batch()
    twin = copy.deepcopy(gpt)
    _randomise(twin.soft_prompt)
    with torch.no_grad():
        a, b = gpt(ids), twin(ids)
    assert a.shape == b.shape == (3, 9, 50) and (a - b).abs().max() > 1e-3
    with torch.no_grad():
        assert torch.equal(gpt(ids), a)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_clear_errors(tok):
    with pytest.raises(ValueError, match="bare BertModel"):
        apply_soft_prompt(_bert(BertModel), P)
    with pytest.raises(ValueError, match="needs the course's GPT"):
        apply_soft_prompt(torch.nn.Linear(3, 3), P)
    with pytest.raises(ValueError, match="length must be an int >= 1"):
        apply_soft_prompt(_bert(), 0)
    with pytest.raises(ValueError, match="unknown init"):
        apply_soft_prompt(_bert(), P, init="zeros")
    with pytest.raises(ValueError, match='init="text" needs tok'):
        apply_soft_prompt(_bert(), P, init="text", text="the movie")
    with pytest.raises(ValueError, match='only used by init="text"'):
        apply_soft_prompt(_bert(), P, init="vocab", text="the movie")
    with pytest.raises(ValueError, match="already has soft_prompt applied"):
        apply_soft_prompt(apply_soft_prompt(_bert(), P), P)
    with pytest.raises(ValueError, match="already has lora applied"):
        apply_soft_prompt(apply_lora(_bert()), P)
    model, gpt = apply_soft_prompt(_bert(), P), apply_soft_prompt(_gpt(), P)
    ids, mask, _ = _batch()
    long = torch.randint(5, 50, (1, 30))
    with pytest.raises(ValueError, match="4 prompt vectors \\+ 30 tokens exceed max_len 32"):
        model(long)
    with pytest.raises(ValueError, match="4 prompt vectors \\+ 30 tokens exceed max_len 32"):
        gpt(long)
    with pytest.raises(ValueError, match="position_ids are not supported"):
        gpt(ids, position_ids=torch.arange(9))
    with pytest.raises(ValueError, match="attention_mask must be"):
        model(ids, None, mask[:, :5])
    with pytest.raises(ValueError, match="attention_mask must be"):
        gpt(ids, attention_mask=mask[:, :5])
    with pytest.raises(ValueError, match="exactly one of input_ids"):
        gpt()
    with pytest.raises(ValueError, match="exactly one of input_ids"):
        model.bert()
