"""Chapter 06: character ids, highway, ScalarMix, the biLM (no information leak, shapes, overfit)."""

import pytest
import torch

from ptm_course.data import Vocab
from ptm_course.encoders import (
    BOS_CHAR,
    BOS_TOKEN,
    BOW_CHAR,
    EOS_CHAR,
    EOS_TOKEN,
    EOW_CHAR,
    PAD_CHAR,
    BiLM,
    ELMoConfig,
    Highway,
    ScalarMix,
    batch_to_char_ids,
    bilm_loss,
    bilm_targets,
    make_bilm_batch,
    reverse_padded,
    word_char_ids,
)
from ptm_course.train import fit


def test_char_ids_follow_bilm_tf_plus_one():
    assert (BOS_CHAR, EOS_CHAR, BOW_CHAR, EOW_CHAR, PAD_CHAR) == (257, 258, 259, 260, 261)
    assert word_char_ids("Ab", max_chars=6) == [259, ord("A") + 1, ord("b") + 1, 260, 261, 261]
    assert word_char_ids(BOS_TOKEN, 5) == [259, 257, 260, 261, 261]
    assert word_char_ids(EOS_TOKEN, 5) == [259, 258, 260, 261, 261]
    assert word_char_ids("é", 6)[1:3] == [0xC3 + 1, 0xA9 + 1]  # UTF-8 bytes
    long = word_char_ids("x" * 80)
    assert len(long) == 50 and long[0] == BOW_CHAR and long[-1] == EOW_CHAR and long[48] == ord("x") + 1
    with pytest.raises(ValueError, match="non-empty"):
        word_char_ids("")


def test_batch_char_ids_pad_with_zero_tokens():
    ids, mask = batch_to_char_ids([["a", "bc"], ["d"]], max_chars=8)
    assert ids.shape == (2, 4, 8)
    assert mask.tolist() == [[True] * 4, [True, True, True, False]]
    assert ids[1, 3].tolist() == [0] * 8  # a padding token is all zeros
    assert ids[0, 0, :3].tolist() == [BOW_CHAR, BOS_CHAR, EOW_CHAR]
    assert ids[1, 2, :3].tolist() == [BOW_CHAR, EOS_CHAR, EOW_CHAR]


def test_highway_matches_its_formula():
    torch.manual_seed(0)
    hw = Highway(5, n_layers=2)
    x = torch.randn(3, 5)
    y = x
    for layer in hw.layers:
        W, b = layer.weight, layer.bias
        n = y @ W[:5].T + b[:5]
        g = torch.sigmoid(y @ W[5:].T + b[5:])
        y = g * y + (1 - g) * torch.relu(n)
    torch.testing.assert_close(hw(x), y)
    assert torch.all(hw.layers[0].bias[5:] == 1.0)
    with pytest.raises(ValueError, match="last dimension of 5"):
        hw(torch.zeros(2, 4))


def test_scalar_mix_matches_its_formula():
    mix = ScalarMix(3)
    with torch.no_grad():
        mix.w.copy_(torch.tensor([0.5, -1.0, 2.0]))
        mix.gamma.fill_(1.7)
    hs = [torch.randn(2, 4, 6) for _ in range(3)]
    s = torch.exp(mix.w) / torch.exp(mix.w).sum()
    torch.testing.assert_close(mix(hs), 1.7 * (s[0] * hs[0] + s[1] * hs[1] + s[2] * hs[2]))
    assert float(mix.weights().detach().sum()) == pytest.approx(1.0)
    fresh = ScalarMix(3)
    torch.testing.assert_close(fresh(hs), (hs[0] + hs[1] + hs[2]) / 3)
    with pytest.raises(ValueError, match="built for 3 layers, got 2"):
        fresh(hs[:2])


def test_targets_of_the_two_lms_are_shifted_in_opposite_directions():
    w = torch.tensor([[2, 3, 4, 5], [2, 6, 5, -100]])
    f, b = bilm_targets(w)
    assert f.tolist() == [[3, 4, 5, -100], [6, 5, -100, -100]]
    assert b.tolist() == [[-100, 2, 3, 4], [-100, 2, 6, 5]]


def test_reverse_padded_is_an_involution():
    x = torch.randn(3, 5, 2)
    lengths = torch.tensor([5, 3, 1])
    torch.testing.assert_close(reverse_padded(reverse_padded(x, lengths), lengths), x)
    torch.testing.assert_close(reverse_padded(x, lengths)[1, :3], x[1, :3].flip(0))
    torch.testing.assert_close(reverse_padded(x, lengths)[1, 3:], x[1, 3:])


def _model(V=30):
    torch.manual_seed(0)
    return BiLM(ELMoConfig.tiny(vocab_size=V)).eval()


def test_no_information_leak_in_either_direction():
    model = _model()
    words = "the cat sat on the warm mat".split()
    changed_after = words[:4] + ["a", "big", "rug"]  # positions 5.. differ (index 0 is <S>)
    changed_before = ["my", "old", "dog"] + words[3:]
    base = model(*batch_to_char_ids([words], 12))
    after = model(*batch_to_char_ids([changed_after], 12))
    before = model(*batch_to_char_ids([changed_before], 12))
    t = 4  # the token "on" (position 4 with <S>)
    # forward LM at t depends on tokens ≤ t only
    torch.testing.assert_close(after.forward_top[:, : t + 1], base.forward_top[:, : t + 1])
    assert not torch.allclose(after.forward_top[:, t + 1 :], base.forward_top[:, t + 1 :])
    # backward LM at t depends on tokens ≥ t only
    torch.testing.assert_close(before.backward_top[:, t:], base.backward_top[:, t:])
    assert not torch.allclose(before.backward_top[:, :t], base.backward_top[:, :t])


def test_padded_batch_equals_separate_sentences_and_odd_lengths_work():
    model = _model()
    sents = [["a", "b", "c", "d", "e"], ["f", "g"], ["h"]]
    out = model(*batch_to_char_ids(sents, 12))
    assert [tuple(h.shape) for h in out.layers] == [(3, 7, 16)] * 3
    for i, s in enumerate(sents):
        alone = model(*batch_to_char_ids([s], 12))
        n = len(s) + 2
        for k in range(3):
            torch.testing.assert_close(out.layers[k][i, :n], alone.layers[k][0], atol=1e-5, rtol=1e-4)
    layers, keep = model.embed(sents)
    assert layers.shape == (3, 3, 5, 16) and keep.sum(1).tolist() == [5, 2, 1]
    torch.testing.assert_close(layers[0, 0, :, :8], layers[0, 0, :, 8:])  # layer 0 = [x; x]


def test_layer_zero_is_context_free_and_upper_layers_are_not():
    model = _model()
    layers, _ = model.embed([["river", "bank"], ["money", "bank"]])
    torch.testing.assert_close(layers[0, 0, 1], layers[0, 1, 1])
    assert not torch.allclose(layers[2, 0, 1], layers[2, 1, 1])


def test_overfit_one_batch():
    sents = [s.split() for s in ["the cat sat on the mat", "a dog ran in the park", "the end"]]
    vocab = Vocab.build(sents, specials=("<unk>", BOS_TOKEN, EOS_TOKEN))
    torch.manual_seed(0)
    model = BiLM(ELMoConfig(len(vocab), char_dim=8, filters=((1, 8), (2, 8), (3, 16)), n_highway=1,
                            d_proj=32, d_hidden=48, dropout=0.0, max_chars=12))
    batch = make_bilm_batch(sents, vocab, max_chars=12)
    assert batch.word_ids[2].tolist()[-2:] == [-100, -100]
    before = bilm_loss(model, batch)[0].item()
    fit(model, [batch], bilm_loss, max_steps=120, lr=1e-2, device="cpu", progress=False)
    after, metrics = bilm_loss(model.eval(), batch)
    # the first word after <S> (forward) and the last word before </S> (backward) cannot be known
    # from one side, so the loss cannot reach 0
    assert before > 2.0 and after.item() < 0.3
    assert set(metrics) == {"nll_forward", "nll_backward"}
    assert after.item() == pytest.approx((metrics["nll_forward"].item() + metrics["nll_backward"].item()) / 2, rel=1e-6)


def test_bad_char_id_shape_is_reported():
    with pytest.raises(ValueError, match=r"\(batch, time, 12\)"):
        _model()(torch.zeros(2, 3, 50, dtype=torch.long))


def test_lstmp_projection_and_config_errors():
    model = BiLM(ELMoConfig(10, char_dim=4, filters=((1, 4),), n_highway=1, d_proj=6, d_hidden=10, dropout=0.0, max_chars=8))
    assert model.forward_lstms[0].proj_size == 6 and model.forward_lstms[0].hidden_size == 10
    out = model(*batch_to_char_ids([["a", "b"]], 8))
    assert out.layers[2].shape == (1, 4, 12)
    with pytest.raises(ValueError, match="must be at least d_proj"):
        BiLM(ELMoConfig(10, d_proj=8, d_hidden=4))
