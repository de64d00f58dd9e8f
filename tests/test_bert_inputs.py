"""Encoding the four fine-tuning cases, and decoding answers back to text."""

from __future__ import annotations

import pytest
import torch

from ptm_course.data.bert_inputs import (
    TensorDictDataset,
    encode_squad,
    encode_tagged,
    encode_texts,
    squad_answers,
    tensor_loader,
)
from ptm_course.metrics import predict
from ptm_course.data.wordpiece import train_wordpiece

CORPUS = ["the tower was built in paris by gustave eiffel in 1889 .",
          "who built the tower ? when was it built ?",
          "the players played playfully in the old stadium ."] * 30


@pytest.fixture(scope="module")
def tok():
    return train_wordpiece(CORPUS, vocab_size=150, min_frequency=1)


def test_encode_texts_single_and_pair(tok):
    enc = encode_texts(tok, ["the tower", "the old stadium was built"], labels=[1, 0], max_len=6)
    assert enc["input_ids"].shape == enc["attention_mask"].shape == (2, 6)
    assert enc["labels"].tolist() == [1, 0]
    assert enc["input_ids"][0, -1] == tok.token_to_id("[PAD]") and enc["attention_mask"][0].tolist()[-1] == 0
    pair = encode_texts(tok, ["who built it"], ["gustave eiffel built it in paris"], max_len=32)
    sep = tok.token_to_id("[SEP]")
    ids, types = pair["input_ids"][0].tolist(), pair["token_type_ids"][0].tolist()
    first_sep = ids.index(sep)
    assert types[: first_sep + 1] == [0] * (first_sep + 1) and set(types[first_sep + 1:]) == {1}
    with pytest.raises(ValueError):
        encode_texts(tok, ["a", "b"], ["c"])


def test_encode_tagged_first_piece_only(tok):
    words = [["playfully", "the", "players"]]
    enc = encode_tagged(tok, words, [["RB", "DT", "NNS"]], {"RB": 0, "DT": 1, "NNS": 2})
    word_ids = tok.encode(words[0], is_pretokenized=True).word_ids
    labels = enc["labels"][0].tolist()
    seen = set()
    for w, lab in zip(word_ids, labels):
        if w is None or w in seen:
            assert lab == -100
        else:
            assert lab == [0, 1, 2][w]
            seen.add(w)
    assert seen == {0, 1, 2}


def test_encode_squad_positions_cover_the_answer(tok):
    ctx = "the tower was built in paris by gustave eiffel in 1889 ."
    answers = [{"text": ["gustave eiffel"], "answer_start": [ctx.index("gustave")]},
               {"text": ["1889"], "answer_start": [ctx.index("1889")]}]
    enc = encode_squad(tok, ["who built the tower ?", "when was it built ?"], [ctx, ctx], answers, max_len=40)
    for k in range(2):
        s, e = int(enc["start_positions"][k]), int(enc["end_positions"][k])
        off = enc["offsets"][k]
        assert ctx[off[s][0]: off[e][1]] == answers[k]["text"][0]
        assert enc["context_mask"][k, s] and enc["context_mask"][k, e]
    assert not enc["context_mask"][0, 0]  # [CLS] is never part of an answer
    # an answer cut off by truncation: dropped for training
    short = encode_squad(tok, ["when was it built ?"] * 2, [ctx, "the tower ."],
                         [answers[1], {"text": ["tower"], "answer_start": [4]}], max_len=12)
    assert short["example"] == [1]
    # decoding perfect logits gives the answer text back
    T = enc["input_ids"].shape[1]
    start = torch.full((2, T), -5.0).scatter(1, enc["start_positions"][:, None], 5.0)
    end = torch.full((2, T), -5.0).scatter(1, enc["end_positions"][:, None], 5.0)
    assert squad_answers(start, end, enc, [ctx, ctx]) == ["gustave eiffel", "1889"]


def test_loader_trims_padding_and_predict_restores_length(tok):
    enc = encode_texts(tok, ["the tower", "the tower", "the old stadium was built in paris by gustave eiffel"], labels=[0, 1, 0])
    assert len(TensorDictDataset(enc)) == 3
    batches = list(tensor_loader(enc, batch_size=2))
    assert batches[0]["input_ids"].shape[1] < enc["input_ids"].shape[1]  # the short batch is cut
    assert batches[1]["input_ids"].shape[1] == enc["input_ids"].shape[1]

    class PerToken(torch.nn.Module):
        def forward(self, ids, types, mask):
            return ids.float()[..., None].expand(*ids.shape, 2)

    per_token = PerToken().train()
    out = predict(per_token, enc, batch_size=2)
    assert per_token.training, "predict restores the model's train/eval mode"
    assert out.shape == (3, enc["input_ids"].shape[1], 2)
    real = enc["attention_mask"].bool()
    assert torch.equal(out[..., 0][real], enc["input_ids"].float()[real])
    with pytest.raises(ValueError, match="different lengths"):
        TensorDictDataset({"a": torch.zeros(2), "b": torch.zeros(3)})
