"""Chapter 04: five interchangeable sentence encoders; position blindness; padding; shapes."""

import pytest
import torch

from ptm_course.encoders import (
    ENCODER_KINDS,
    CNNEncoder,
    SentenceClassifier,
    TransformerEncoder,
    classification_loss,
    classify_accuracy,
    make_encoder,
    sequential_steps,
    shuffle_tokens,
)
from ptm_course.train import fit

D = 16


def _model(kind: str, **kw) -> SentenceClassifier:
    torch.manual_seed(0)
    return SentenceClassifier(30, kw.pop("encoder", None) or make_encoder(kind, D), D, n_classes=2, **kw).eval()


@pytest.mark.parametrize("kind", ENCODER_KINDS)
def test_shapes_on_odd_lengths_and_padded_batches(kind):
    model = _model(kind)
    for T in (1, 3, 7):
        ids = torch.randint(1, 30, (3, T))
        ids[1, T // 2 + 1 :] = 0  # a shorter, padded sentence
        assert model(ids).shape == (3, 2)


@pytest.mark.parametrize("kind", ENCODER_KINDS)
def test_padding_does_not_change_the_sentence_vector(kind):
    model = _model(kind)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    padded = torch.tensor([[5, 6, 7, 8, 9, 0, 0, 0]])
    torch.testing.assert_close(model.encode(ids), model.encode(padded), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", ENCODER_KINDS)
def test_only_the_mlp_is_blind_to_word_order(kind):
    model = _model(kind)
    ids = torch.randint(1, 30, (4, 9))
    shuffled = shuffle_tokens(ids, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(ids, shuffled)
    same = torch.allclose(model(ids), model(shuffled), atol=1e-5)
    assert same == (kind == "mlp")


def test_a_transformer_without_positions_is_order_blind_too():
    model = _model("transformer", encoder=TransformerEncoder(D, n_heads=4, positions=False, dropout=0.0))
    ids = torch.randint(1, 30, (3, 6))
    shuffled = shuffle_tokens(ids, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(model(ids), model(shuffled), atol=1e-5, rtol=1e-4)


def test_cnn_sees_local_order():
    enc = CNNEncoder(D, n_filters=4, widths=(2,))
    x = torch.randn(1, 5, D)
    mask = torch.ones(1, 5, dtype=torch.bool)
    assert not torch.allclose(enc(x, mask), enc(x.flip(1), mask))


@pytest.mark.parametrize("kind", ENCODER_KINDS)
def test_each_encoder_overfits_an_order_dependent_batch(kind):
    # label = 1 when token 3 comes before token 4; every bag of words occurs with both labels,
    # so only word order separates the classes
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 30, (16, 6), generator=g).repeat(2, 1)  # (32, 6): each sentence twice
    labels = torch.tensor([1] * 16 + [0] * 16)
    ids[:16, 1], ids[:16, 4] = 3, 4
    ids[16:, 1], ids[16:, 4] = 4, 3
    model = SentenceClassifier(30, make_encoder(kind, D), D, dropout=0.0)
    fit(model, [(ids, labels)], classification_loss, max_steps=150, lr=1e-2, device="cpu", progress=False)
    acc = classify_accuracy(model, ids, labels)
    if kind == "mlp":
        assert acc <= 0.5  # the two orders have the same bag: same output, one of each pair wrong
    else:
        assert acc == 1.0


def test_sequential_steps_and_errors():
    assert sequential_steps("lstm", 50, n_layers=2) == 100
    assert sequential_steps("transformer", 50) == 1
    with pytest.raises(ValueError, match="unknown encoder"):
        make_encoder("gru", D)
    with pytest.raises(ValueError, match=r"expects x of shape \(batch, time, 16\)"):
        make_encoder("cnn", D)(torch.zeros(2, 3, 8), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask of shape"):
        make_encoder("mlp", D)(torch.zeros(2, 3, D), torch.ones(2, 4, dtype=torch.bool))
