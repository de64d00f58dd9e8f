"""Templates, verbalizers, label-word scores, calibration and PET (ptm_course.tuning.prompts).

Tiny random models and hand-written vocabularies: every number is checked against a hand
calculation, nothing is downloaded.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ptm_course.data.bert_inputs import tensor_loader
from ptm_course.data.bpe import train_bpe
from ptm_course.data.wordpiece import load_wordpiece
from ptm_course.models.bert import BertConfig, BertForMaskedLM, BertMeanPoolClassifierWithMLM
from ptm_course.models.llama import Llama, LlamaConfig
from ptm_course.train import fit
from ptm_course.tuning import (Template, Verbalizer, calibrate, causal_label_scores, encode_prompts, label_scores,
                               mlm_label_scores, pet_loss, pet_objective, pet_tensors)
from ptm_course.tuning.prompts import _prompt_rows

WORDS = ["i", "love", "hate", "this", "movie", "film", "the", "is", "was", "it", "a", "story", "boring", "dull",
         "great", "terrible", "good", "bad", "review", "news", ":", ".", ",", "!", "fan", "##tas", "##tic", "won",
         "##der", "##ful", "n", "/"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
TEXTS = ["I love this movie.", "a boring, dull story", "it was bad!", "the film is great . great ."]


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return load_wordpiece(path)  # a known vocabulary: "fantastic" -> fan ##tas ##tic


@pytest.fixture(scope="module")
def mlm(tok):
    torch.manual_seed(0)
    return BertForMaskedLM(BertConfig.tiny(vocab_size=tok.get_vocab_size(), dropout=0.0, attn_dropout=0.0)).eval()


@pytest.fixture(scope="module")
def bpe():
    corpus = ["I love this movie. The movie is great.", "I hate this film. The film is terrible.",
              "A boring and dull story. The movie is bad.", "What a good film. The film is good."] * 5
    return train_bpe(corpus, vocab_size=300, min_frequency=1)


@pytest.fixture(scope="module")
def llm(bpe):
    torch.manual_seed(0)
    return Llama(LlamaConfig.tiny(vocab_size=bpe.get_vocab_size())).eval()


def pieces(tok, ids):
    return [tok.id_to_token(int(i)) for i in ids]


# --------------------------------------------------------------------------------------------
# Template and Verbalizer
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern, says", [
    ("{x} The movie is ___.", "{mask}"),
    ("The movie is {mask}.", "{x}"),
    ("{x} {mask} and {mask}.", "{mask}"),
    ("{x} The {film} is {mask}.", "unknown field"),
    ("{x} The movie is {mask}. {", "brace"),
    ("{x:>5} is {mask}", "format spec"),
])
def test_bad_templates_say_what_is_wrong(pattern, says):
    with pytest.raises(ValueError, match="e.g.|brace|format spec") as e:
        Template(pattern)
    assert says in str(e.value)


def test_template_fill_parts_and_causal_check():
    t = Template("{x} The movie is {mask}.")
    assert t.fill("I love it.") == "I love it. The movie is [MASK]."
    assert t.fill("I love it.", n_masks=2) == "I love it. The movie is [MASK] [MASK]."
    assert Template("{{x}} {x} {mask}").fill("a") == "{x} a [MASK]"  # doubled braces are literal
    with pytest.raises(ValueError, match=r"blank at the end.*'\{x\} The movie is \{mask\}'"):
        t.check_causal()
    c = Template("{x} The movie is {mask} ")
    assert c.check_causal() is c
    assert c.causal_text("I love it.") == "I love it. The movie is"


def test_verbalizer_words_rules_and_errors(tok):
    v = Verbalizer({1: "great", 0: "terrible"})
    assert v.words == ("terrible", "great") and len(v) == 2
    assert Verbalizer(["terrible", "great"]).words == v.words
    assert v.token_ids(tok) == [[tok.token_to_id("terrible")], [tok.token_to_id("great")]]
    fine = Verbalizer({0: "boring", 1: "fantastic"})  # fantastic -> fan ##tas ##tic
    with pytest.raises(ValueError, match=r"'fantastic' -> \['fan', '##tas', '##tic'\].*rule='first'.*rule='mean'"):
        fine.token_ids(tok)
    assert [len(t) for t in fine.token_ids(tok, "mean")] == [1, 3]
    assert fine.token_ids(tok, "first") == fine.token_ids(tok, "mean")  # all tokens; the rule reads the first
    with pytest.raises(ValueError, match="not in the vocabulary"):
        Verbalizer({0: "bad", 1: "zebra"}).token_ids(tok, "mean")  # z is no piece: [UNK]
    with pytest.raises(ValueError, match="share their first token.*rule='mean'"):
        Verbalizer({0: "fantastic", 1: "fan"}).token_ids(tok, "first")
    with pytest.raises(ValueError, match="unknown rule 'sum'.*'single'.*'first'.*'mean'"):
        v.token_ids(tok, "sum")
    with pytest.raises(ValueError, match="0 … n − 1"):
        Verbalizer({0: "bad", 2: "good"})
    with pytest.raises(TypeError):
        Verbalizer("great")
    with pytest.raises(ValueError, match="different token counts"):
        fine.n_masks(tok, "mean")
    assert Verbalizer({0: "wonderful", 1: "fantastic"}).n_masks(tok, "mean") == 3
    assert fine.n_masks(tok, "first") == 1


# --------------------------------------------------------------------------------------------
# Encoding and truncation
# --------------------------------------------------------------------------------------------


def test_encode_prompts_puts_the_mask_where_the_blank_is(tok):
    enc = encode_prompts(tok, TEXTS, Template("{x} The movie is {mask}."), labels=[1, 0, 0, 1])
    mask_id = tok.token_to_id("[MASK]")
    assert enc["mask_positions"].shape == (4, 1) and enc["labels"].tolist() == [1, 0, 0, 1]
    for ids, am, pos in zip(enc["input_ids"], enc["attention_mask"], enc["mask_positions"]):
        n = int(am.sum())
        assert am[:n].all() and not am[n:].any()  # right padding
        assert (ids == mask_id).nonzero().flatten().tolist() == pos.tolist()
        assert pieces(tok, ids[int(pos) - 3:n]) == ["the", "movie", "is", "[MASK]", ".", "[SEP]"]
    first = pieces(tok, enc["input_ids"][0, :int(enc["attention_mask"][0].sum())])
    assert first == ["[CLS]", "i", "love", "this", "movie", ".", "the", "movie", "is", "[MASK]", ".", "[SEP]"]
    # the blank first, and two consecutive blanks
    enc = encode_prompts(tok, ["it was bad"], Template("{mask} news: {x}"), n_masks=2)
    assert pieces(tok, enc["input_ids"][0]) == ["[CLS]", "[MASK]", "[MASK]", "news", ":", "it", "was", "bad", "[SEP]"]
    assert enc["mask_positions"].tolist() == [[1, 2]]


@pytest.mark.parametrize("pattern", ["{x} The movie is {mask}.", "Review: {x} It was {mask} !", "{mask} news: {x}"])
@pytest.mark.parametrize("n_masks", [1, 3])
def test_truncation_cuts_the_text_never_the_template_or_the_mask(tok, pattern, n_masks):
    template = Template(pattern)
    long = ["the movie was boring " * 40, "i love this film ! " * 30, "a dull story"]
    max_len = 20
    enc = encode_prompts(tok, long, template, n_masks=n_masks, max_len=max_len)
    short = encode_prompts(tok, [""], template, n_masks=n_masks, max_len=max_len)  # the template alone
    kept = pieces(tok, short["input_ids"][0])
    mask_id = tok.token_to_id("[MASK]")
    assert enc["input_ids"].shape[1] == max_len
    for text, ids, am, pos in zip(long, enc["input_ids"], enc["attention_mask"], enc["mask_positions"]):
        row = pieces(tok, ids[:int(am.sum())])
        assert len(row) <= max_len and row[0] == "[CLS]" and row[-1] == "[SEP]"
        assert (ids[pos] == mask_id).all() and int((ids == mask_id).sum()) == n_masks
        # the template's tokens are all there, in order, around a prefix of the text's tokens
        x = tok.encode(text, add_special_tokens=False).tokens
        n_x = len(row) - len(kept)
        assert 1 <= n_x <= len(x)
        at = [i for i in range(len(row)) if row[i:i + n_x] == x[:n_x]]
        assert at and row[:at[0]] + row[at[0] + n_x:] == kept


def test_template_longer_than_max_len_is_a_clear_error(tok):
    # 4 words + [MASK] + [CLS] [SEP] = 7 tokens: max_len=7 leaves nothing for the review
    with pytest.raises(ValueError, match=r"takes 7 tokens.*leaves 0 of max_len=7.*raise max_len or shorten"):
        encode_prompts(tok, TEXTS, Template("{x} the movie is {mask} ."), max_len=7)
    assert encode_prompts(tok, TEXTS, Template("{x} the movie is {mask} ."), max_len=8)["input_ids"].shape == (4, 8)
    with pytest.raises(ValueError, match="n_masks"):
        encode_prompts(tok, TEXTS, Template("{x} is {mask}"), n_masks=0)
    with pytest.raises(TypeError, match="list of strings"):
        encode_prompts(tok, "I love it", Template("{x} is {mask}"))


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------


def test_label_scores_is_log_softmax_then_gather(tok):
    torch.manual_seed(1)
    V = tok.get_vocab_size()
    logits = torch.randn(3, V) * 3
    v = Verbalizer({0: "terrible", 1: "good", 2: "great"})
    got = label_scores(logits, v, tok)
    for b in range(3):
        z = logits[b]
        for j, w in enumerate(v.words):
            i = tok.token_to_id(w)
            assert torch.isclose(got[b, j], z[i] - torch.logsumexp(z, 0), atol=1e-5)  # log e^z_i / Σ e^z
    assert torch.allclose(label_scores(logits[:, None], v, tok), got)  # (B, 1, V) is the same blank


def test_multi_token_rules_first_and_mean_by_hand(tok):
    torch.manual_seed(2)
    V = tok.get_vocab_size()
    logits = torch.randn(2, 3, V) * 2  # three consecutive blanks
    v = Verbalizer({0: "bad", 1: "fantastic"})
    logp = logits.log_softmax(-1)
    bad, fan, tas, tic = (tok.token_to_id(w) for w in ("bad", "fan", "##tas", "##tic"))
    first = label_scores(logits, v, tok, "first")
    assert torch.allclose(first, torch.stack([logp[:, 0, bad], logp[:, 0, fan]], -1))
    mean = label_scores(logits, v, tok, "mean")
    by_hand = (logp[:, 0, fan] + logp[:, 1, tas] + logp[:, 2, tic]) / 3  # token j at blank j
    assert torch.allclose(mean, torch.stack([logp[:, 0, bad], by_hand], -1))
    with pytest.raises(ValueError, match="needs 3 blanks"):
        label_scores(logits[:, :2], v, tok, "mean")


def test_mlm_label_scores_equal_a_full_forward_by_hand(tok, mlm):
    template = Template("{x} The movie is {mask}.")
    v = Verbalizer({0: "bad", 1: "fantastic", 2: "good"})
    for rule in ("first", "mean"):
        got = mlm_label_scores(mlm, tok, TEXTS, template, v, rule=rule, batch_size=3)
        assert got.shape == (4, 3)
        one = torch.cat([mlm_label_scores(mlm, tok, [t], template, v, rule=rule) for t in TEXTS])
        assert torch.allclose(got, one, atol=1e-5)  # right padding changes nothing
        for j, w in enumerate(v.words):
            ids = tok.encode(w, add_special_tokens=False).ids
            k = len(ids) if rule == "mean" else 1
            enc = encode_prompts(tok, TEXTS, template, n_masks=k)
            with torch.no_grad():
                logp = mlm(enc["input_ids"], enc["token_type_ids"], enc["attention_mask"]).log_softmax(-1)
            rows = torch.arange(4)
            want = sum(logp[rows, enc["mask_positions"][:, i], ids[i]] for i in range(k)) / k
            assert torch.allclose(got[:, j], want, atol=1e-5), (rule, w)


def test_mlm_label_scores_follow_the_model_and_restore_its_mode(tok, mlm):
    # the chapter-12 model with two heads: forward is the classifier, .mlm the masked LM
    torch.manual_seed(0)
    both = BertMeanPoolClassifierWithMLM(BertConfig.tiny(vocab_size=tok.get_vocab_size()), n_classes=2)
    both.load_state_dict(mlm.state_dict(), strict=False)
    both.train()
    v = Verbalizer({0: "bad", 1: "good"})
    template = Template("{x} It was {mask}.")
    got = mlm_label_scores(both, tok, TEXTS, template, v)
    assert both.training  # mode restored
    assert torch.allclose(got, mlm_label_scores(mlm, tok, TEXTS, template, v), atol=1e-5)
    assert got.device.type == "cpu" and torch.isfinite(got).all() and (got < 0).all()


def test_causal_scores_batched_equal_one_at_a_time_and_by_hand(bpe, llm):
    template = Template("{x} The movie is {mask}")
    v = Verbalizer({0: " terrible", 1: " great", 2: " good"})
    texts = ["I love this movie.", "A boring and dull story, the worst film I have seen this year.", "Bad.",
             "What a good film."]
    for rule in ("first", "mean"):
        got = causal_label_scores(llm, bpe, texts, template, v, rule=rule, batch_size=4)
        one = torch.cat([causal_label_scores(llm, bpe, [t], template, v, rule=rule) for t in texts])
        assert torch.allclose(got, one, atol=1e-5), rule  # left padding changes nothing
    # by hand, no padding at all: log P(w_1 | prompt) and (1/k) Σ_j log P(w_j | prompt, w_<j)
    for b, text in enumerate(texts):
        prompt = bpe.encode(template.causal_text(text), add_special_tokens=False).ids
        for j, w in enumerate(v.words):
            ids = bpe.encode(w, add_special_tokens=False).ids
            with torch.no_grad():
                logp = llm(torch.tensor([prompt + ids]))[0].log_softmax(-1)  # (T, V)
            steps = [float(logp[len(prompt) - 1 + i, t]) for i, t in enumerate(ids)]
            assert got[b, j] == pytest.approx(sum(steps) / len(steps), abs=1e-5)
            assert one[b, j] == pytest.approx(sum(steps) / len(steps), abs=1e-5)
    first = causal_label_scores(llm, bpe, texts, template, v, rule="first")
    with torch.no_grad():
        logp = llm(torch.tensor([bpe.encode(template.causal_text(texts[0])).ids]))[0, -1].log_softmax(-1)
    assert first[0, 0] == pytest.approx(float(logp[bpe.encode(" terrible").ids[0]]), abs=1e-5)


def test_causal_scores_truncate_the_text_and_check_the_template(bpe, llm):
    template = Template("Review: {x} The movie is {mask}")
    v = Verbalizer({0: " bad", 1: " good"})
    long = ["I love this movie. " * 50, "boring " * 80]
    rows, _ = _prompt_rows(bpe, long, template, 0, 30, 0, causal=True, what="")
    tail = bpe.encode(" The movie is", add_special_tokens=False).ids
    head = bpe.encode("Review:", add_special_tokens=False).ids
    for r in rows:
        assert len(r) == 30 and r[-len(tail):] == tail and r[:len(head)] == head
    # "Review: {x}": the space before {x} goes with the text (" I"), as in the whole string
    assert rows[0][len(head):len(head) + 3] == bpe.encode(" I love", add_special_tokens=False).ids[:3]
    s = causal_label_scores(llm, bpe, long, template, v, rule="mean", max_len=31)
    assert torch.isfinite(s).all()
    with pytest.raises(ValueError, match="raise max_len"):
        causal_label_scores(llm, bpe, long, template, v, rule="mean", max_len=6)
    with pytest.raises(ValueError, match="blank at the end"):
        causal_label_scores(llm, bpe, long, Template("{x} The movie is {mask}."), v, rule="mean")
    with pytest.raises(ValueError, match=r"no leading space.*Use ' good'"):
        causal_label_scores(llm, bpe, long, template, Verbalizer({0: " bad", 1: "good"}), rule="mean")


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------


def test_calibration_flips_a_prompt_bias():
    # two reviews; the prompt favours label 1 ("great") whatever the text: P(great | "N/A") = 0.8
    truth = torch.tensor([[0.7, 0.3], [0.2, 0.8]])  # what the text says
    bias = torch.tensor([0.2, 0.8])
    scores = (truth * bias).log() - 1.5  # log-probs over a vocabulary: not normalised over the labels
    assert scores.argmax(-1).tolist() == [1, 1]  # the first review is called "great": wrong
    cal = calibrate(scores, bias.log() - 2.0)
    assert cal.argmax(-1).tolist() == [0, 1]  # fixed
    assert torch.allclose(cal.exp(), truth / truth.sum(-1, keepdim=True), atol=1e-6)  # q ∝ p / p_cf
    # several content-free inputs: their renormalised probabilities are averaged
    two = torch.stack([torch.tensor([0.1, 0.9]).log(), torch.tensor([0.3, 0.7]).log()])
    assert torch.allclose(calibrate(scores, two), cal, atol=1e-6)
    with pytest.raises(ValueError, match="same number of labels"):
        calibrate(scores, torch.zeros(3))


def test_calibration_on_a_model(tok, mlm):
    template = Template("{x} It was {mask}.")
    v = Verbalizer({0: "bad", 1: "good"})
    scores = mlm_label_scores(mlm, tok, TEXTS, template, v)
    cf = mlm_label_scores(mlm, tok, ["N/A"], template, v)
    cal = calibrate(scores, cf)
    assert cal.shape == scores.shape and torch.allclose(cal.exp().sum(-1), torch.ones(4))
    # the content-free input itself: no preference left
    assert torch.allclose(calibrate(cf, cf).exp(), torch.full((1, 2), 0.5))


# --------------------------------------------------------------------------------------------
# PET
# --------------------------------------------------------------------------------------------


def test_pet_loss_is_cross_entropy_over_label_word_logits(tok, mlm):
    template = Template("{x} The movie is {mask}.")
    v = Verbalizer({0: "bad", 1: "good", 2: "great"})
    batch = pet_tensors(tok, TEXTS, [2, 0, 0, 1], template, v)
    loss, metrics = pet_loss(mlm, batch, v, tok)
    z = mlm(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])  # (B, T, V) raw logits
    at = z[torch.arange(4), batch["mask_positions"][:, 0]]  # (B, V): at the [MASK]
    label_logits = at[:, [tok.token_to_id(w) for w in v.words]]  # (B, 3)
    want = F.cross_entropy(label_logits, batch["labels"])  # PET: softmax over the label words' logits
    assert torch.isclose(loss, want, atol=1e-5)
    assert float(metrics["acc"]) == pytest.approx(float((label_logits.argmax(-1) == batch["labels"]).float().mean()))
    mlm.zero_grad()
    loss.backward()
    grads = [mlm.bert.layers[0].attn.q_proj.weight.grad, mlm.bert.embeddings.word_embeddings.weight.grad]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)  # through the template into the encoder
    mlm.zero_grad()


def test_pet_mean_rule_and_errors(tok, mlm):
    template = Template("{x} It was {mask}.")
    v = Verbalizer({0: "wonderful", 1: "fantastic"})  # won ##der ##ful / fan ##tas ##tic: 3 blanks
    batch = pet_tensors(tok, TEXTS[:2], [1, 0], template, v, rule="mean")
    assert batch["mask_positions"].shape == (2, 3)
    loss, _ = pet_loss(mlm, batch, v, tok, rule="mean")
    with torch.no_grad():
        z = mlm(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    rows = torch.arange(2)[:, None]
    at = z[rows, batch["mask_positions"]]  # (B, 3, V)
    s = torch.stack([at[:, [0, 1, 2], v.token_ids(tok, "mean")[j]].mean(-1) for j in range(2)], -1)  # mean raw logit
    assert torch.isclose(loss, F.cross_entropy(s, batch["labels"]), atol=1e-5)  # log Z cancels here too
    with pytest.raises(ValueError, match="different token counts"):
        pet_tensors(tok, TEXTS, [0, 1, 0, 1], template, Verbalizer({0: "bad", 1: "fantastic"}), rule="mean")
    with pytest.raises(ValueError, match=r"labels \[2\]"):
        pet_tensors(tok, TEXTS[:2], [2, 0], template, v, rule="mean")
    with pytest.raises(ValueError, match="rule='first'"):
        pet_objective(Verbalizer({0: "bad", 1: "fantastic"}), tok)  # checked before training


def test_pet_objective_trains_with_fit(tok):
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig.tiny(vocab_size=tok.get_vocab_size()))
    template = Template("{x} It was {mask}.")
    v = Verbalizer({0: "bad", 1: "good"})
    data = pet_tensors(tok, TEXTS, [1, 0, 0, 1], template, v)
    loss_fn = pet_objective(v, tok)
    with torch.no_grad():
        before = float(loss_fn(model.eval(), data)[0])
    history = fit(model, tensor_loader(data, batch_size=4), loss_fn, max_steps=25, lr=3e-3, log_every=5,
                  device="cpu", progress=False)  # the first fit of a process imports torch._dynamo (≈ 2 s)
    with torch.no_grad():
        after = float(loss_fn(model.eval(), data)[0])
    assert "acc" in history.keys() and after < before / 2


def test_a_tokenizer_set_up_to_truncate_and_pad_is_left_as_it_was(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tok = load_wordpiece(path)
    plain = encode_prompts(tok, TEXTS, Template("{x} The movie is {mask}."))
    tok.enable_truncation(max_length=4)
    tok.enable_padding(length=40)
    trunc, pad = tok.truncation, tok.padding
    enc = encode_prompts(tok, TEXTS, Template("{x} The movie is {mask}."))
    assert all(torch.equal(enc[k], plain[k]) for k in plain)  # its settings do not leak into the prompts
    assert Verbalizer({0: "bad", 1: "fantastic"}).token_ids(tok, "mean")[1] == [tok.token_to_id(p) for p in
                                                                                ("fan", "##tas", "##tic")]
    assert tok.truncation == trunc and tok.padding == pad  # and are restored


# --------------------------------------------------------------------------------------------
# k-shot subsets and PET as a row of the comparison (tuning.compare)
# --------------------------------------------------------------------------------------------


def _review_task(tok):
    from ptm_course.data.bert_inputs import encode_texts
    from ptm_course.tuning import Task

    good = ["i love this movie .", "a great film !", "the story is good .", "i love it ."]
    bad = ["i hate this movie .", "a dull film !", "the story is bad .", "boring , boring ."]
    texts = (good + bad) * 3
    labels = ([1] * 4 + [0] * 4) * 3
    enc = encode_texts(tok, texts, labels=labels, max_len=16)
    split = {s: {k: v.clone() for k, v in enc.items()} for s in ("train", "valid", "test")}
    return Task("toy-reviews", "sentence", 2, split["train"], split["valid"], split["test"], ["bad", "good"],
                {s: list(texts) for s in ("train", "valid", "test")})


def test_k_per_class_draws_k_of_each_class_reproducibly():
    from ptm_course.tuning import k_per_class

    labels = torch.tensor([0, 1, 1, 0, 2, 2, 1, 0, 2, 0])
    idx = k_per_class(labels, 2, seed=3)
    assert sorted(labels[idx].tolist()) == [0, 0, 1, 1, 2, 2] and len(set(idx.tolist())) == 6
    assert torch.equal(idx, k_per_class(labels, 2, seed=3))
    assert any(not torch.equal(idx, k_per_class(labels, 2, seed=s)) for s in range(4, 10))
    with pytest.raises(ValueError, match="fewer than k = 4"):
        k_per_class(labels, 4)


def test_few_shot_keeps_texts_and_tensors_aligned(tok):
    from ptm_course.data.bert_inputs import encode_texts
    from ptm_course.tuning import few_shot

    task = _review_task(tok)
    small = few_shot(task, 2, seed=1)
    assert small.train["labels"].bincount().tolist() == [2, 2] and small.test is task.test
    again = encode_texts(tok, small.texts["train"], labels=small.train["labels"].tolist(), max_len=16)
    assert torch.equal(again["input_ids"], small.train["input_ids"][:, : again["input_ids"].size(1)])


def test_pet_tune_zero_shot_is_the_template_score_and_training_learns(tok, mlm):
    from ptm_course.tuning import pet_tune

    task = _review_task(tok)
    template, verbalizer = Template("{x} it was {mask} ."), Verbalizer({0: "bad", 1: "good"})
    before = {k: v.clone() for k, v in mlm.state_dict().items()}
    zero = pet_tune(mlm, tok, task, template, verbalizer, lr=0.0, steps=0, eval_splits=("test",))
    pred = mlm_label_scores(mlm, tok, task.texts["test"], template, verbalizer).argmax(-1)
    assert zero.accuracy == float((pred == task.test["labels"]).float().mean()) and zero.history is None
    run = pet_tune(mlm, tok, task, template, verbalizer, lr=1e-2, steps=60, batch_size=8, eval_splits=("test",))
    again = pet_tune(mlm, tok, task, template, verbalizer, lr=1e-2, steps=60, batch_size=8, eval_splits=("test",))
    assert run.accuracy == again.accuracy and run.history.train == again.history.train  # seeded
    assert run.accuracy == 1.0 and run.count.trainable == sum(p.numel() for p in mlm.parameters())
    assert all(torch.equal(before[k], v) for k, v in mlm.state_dict().items())  # the backbone is a copy
    with pytest.raises(ValueError, match="eval_splits"):
        pet_tune(mlm, tok, task, template, verbalizer, lr=1e-3, steps=0, eval_splits="test")


# --------------------------------------------------------------------------------------------
# The prompt playground (viz): printed headless, the same numbers as the scores
# --------------------------------------------------------------------------------------------


def test_prompt_table_and_playground_agree_with_the_scores(tok, mlm, capsys):
    from ptm_course.viz import prompt_playground, prompt_table

    templates = {"it was": Template("{x} it was {mask} ."), "blank first": Template("{mask} : {x}")}
    verbalizers = {"good/bad": Verbalizer({0: "bad", 1: "good"}), "dull/great": Verbalizer({0: "dull", 1: "great"})}
    rows = prompt_table(mlm, tok, "i love this movie .", templates, verbalizers)
    assert [(r["template"], r["verbalizer"]) for r in rows] == [(t, v) for t in templates for v in verbalizers]
    for r in rows:
        want = mlm_label_scores(mlm, tok, ["i love this movie ."], templates[r["template"]],
                                verbalizers[r["verbalizer"]])[0]
        assert torch.allclose(torch.tensor(r["log_p"]), want, atol=1e-5)
        assert abs(sum(r["p"]) - 1) < 1e-5 and r["label"] == int(want.argmax())
    assert prompt_playground(mlm, tok, templates, verbalizers, text="i love this movie .", use_widgets=False) is None
    printed = capsys.readouterr().out
    assert printed.count("->") == 4 and "dull/great" in printed
    with pytest.raises(ValueError, match="empty"):
        prompt_table(mlm, tok, "  ", templates, verbalizers)
    widget = prompt_playground(mlm, tok, templates, verbalizers, text="i love this movie .")
    if widget is not None:  # ipywidgets installed: the widget renders the chosen row
        assert "prediction" in widget.children[-1].value
