"""Chapter 05: the written-out cells equal nn.RNN / nn.LSTM; measurements; the TBPTT LSTM LM."""

import pytest
import torch
from torch import nn

from ptm_course.encoders import (
    BPTTBatches,
    LSTMCell,
    LSTMLM,
    LSTMLMConfig,
    RNNCell,
    TBPTTLoss,
    evaluate_lm,
    gradient_vs_distance,
    state_changes,
    unroll,
)
from ptm_course.train import fit


def test_rnn_cell_equals_nn_rnn_with_copied_weights():
    torch.manual_seed(0)
    ref = nn.RNN(5, 7, num_layers=2, batch_first=True)
    x = torch.randn(3, 9, 5)
    h0 = torch.randn(2, 3, 7)
    expected, h_last = ref(x, h0)
    out0, _ = unroll(RNNCell.from_torch(ref, layer=0), x, h0[0])
    out1, h1 = unroll(RNNCell.from_torch(ref, layer=1), out0, h0[1])
    torch.testing.assert_close(out1, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h1, h_last[1], atol=1e-6, rtol=1e-5)


def test_lstm_cell_equals_nn_lstm_and_lstmcell():
    torch.manual_seed(0)
    ref = nn.LSTM(4, 6, batch_first=True)
    x = torch.randn(2, 11, 4)
    state = (torch.randn(1, 2, 6), torch.randn(1, 2, 6))
    expected, (h, c) = ref(x, state)
    ours, (h_ours, c_ours) = unroll(LSTMCell.from_torch(ref), x, (state[0][0], state[1][0]))
    torch.testing.assert_close(ours, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(c_ours, c[0], atol=1e-6, rtol=1e-5)
    ref_cell = nn.LSTMCell(4, 6)
    h2, c2 = LSTMCell.from_torch(ref_cell)(x[:, 0])
    eh, ec = ref_cell(x[:, 0])
    torch.testing.assert_close((h2, c2), (eh, ec), atol=1e-6, rtol=1e-5)


def test_lstm_cell_gradients_match_nn_lstm():
    torch.manual_seed(1)
    ref = nn.LSTM(3, 4, batch_first=True)
    cell = LSTMCell.from_torch(ref)
    x = torch.randn(2, 6, 3)
    ref(x)[0].sum().backward()
    unroll(cell, x)[0].sum().backward()
    torch.testing.assert_close(cell.weight_hh.grad, ref.weight_hh_l0.grad, atol=1e-5, rtol=1e-4)


def test_cells_reject_bad_shapes_with_clear_messages():
    with pytest.raises(ValueError, match=r"expects x of shape \(batch, 3\), got \(2, 4\)"):
        LSTMCell(3, 5)(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="batch, time, 3"):
        unroll(RNNCell(3, 5), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="proj_size"):
        LSTMCell.from_torch(nn.LSTM(3, 5, proj_size=2))


def test_forget_bias_is_added_to_the_forget_gate_only():
    torch.manual_seed(0)
    a = LSTMCell(3, 4, forget_bias=0.0)
    torch.manual_seed(0)
    b = LSTMCell(3, 4, forget_bias=1.0)
    diff = b.bias_hh - a.bias_hh
    torch.testing.assert_close(diff, torch.tensor([0.0] * 4 + [1.0] * 4 + [0.0] * 8))


def test_rnn_gradient_vanishes_faster_than_lstm_gradient():
    torch.manual_seed(0)
    x = torch.randn(8, 40, 16)
    g_rnn = gradient_vs_distance(RNNCell(16, 32), x)
    g_lstm = gradient_vs_distance(LSTMCell(16, 32, forget_bias=1.0), x)
    assert g_rnn.shape == g_lstm.shape == (40,)
    assert g_rnn[30] / g_rnn[0] < 1e-3  # vanishes
    assert (g_lstm[30] / g_lstm[0]) > 100 * (g_rnn[30] / g_rnn[0])


def test_cell_state_changes_less_than_hidden_state():
    torch.manual_seed(0)
    ch = state_changes(LSTMCell(8, 16, forget_bias=1.0), torch.randn(4, 20, 8))
    assert ch["cell"].shape == ch["hidden"].shape == (19,)
    assert ch["cell"][5:].mean() < ch["hidden"][5:].mean()


def test_bptt_batches_cover_the_stream_in_order():
    ids = torch.arange(23)
    batches = list(BPTTBatches(ids, batch_size=2, bptt=5))
    assert [b.reset for b in batches] == [True, False]  # 11 columns: inputs 0..9, targets 1..10
    x = torch.cat([b.x for b in batches], dim=1)
    y = torch.cat([b.y for b in batches], dim=1)
    assert x.tolist() == [list(range(0, 10)), list(range(11, 21))]
    assert torch.equal(y, x + 1)
    with pytest.raises(ValueError, match="1-D"):
        BPTTBatches(torch.zeros(2, 3), 1, 2)


def test_lstm_lm_state_continuation_equals_one_long_pass():
    torch.manual_seed(0)
    model = LSTMLM(LSTMLMConfig.tiny(vocab_size=20)).eval()
    x = torch.randint(0, 20, (2, 9))
    full, _ = model(x)
    a, state = model(x[:, :4])
    b, _ = model(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([a, b], 1), full, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="d_model == d_hidden"):
        LSTMLM(LSTMLMConfig(vocab_size=5, d_model=4, d_hidden=6))


def test_lstm_lm_is_causal():
    torch.manual_seed(0)
    model = LSTMLM(LSTMLMConfig.tiny(vocab_size=20)).eval()
    x = torch.randint(0, 20, (1, 8))
    x2 = x.clone()
    x2[0, 5:] = (x2[0, 5:] + 1) % 20
    torch.testing.assert_close(model(x)[0][:, :5], model(x2)[0][:, :5])
    assert not torch.allclose(model(x)[0][:, 5:], model(x2)[0][:, 5:])


def test_tbptt_loss_detaches_and_resets_the_state():
    torch.manual_seed(0)
    model = LSTMLM(LSTMLMConfig.tiny(vocab_size=10))
    loss_fn = TBPTTLoss()
    batches = list(BPTTBatches(torch.randint(0, 10, (41,)), batch_size=2, bptt=5))
    loss, metrics = loss_fn(model, batches[0])
    assert loss_fn.state is not None and not loss_fn.state[0].requires_grad
    kept = loss_fn.state
    loss_fn(model, batches[1])
    assert loss_fn.state is not kept
    loss_fn(model, batches[0])  # reset=True: starts from zeros, equal to a fresh loss function
    torch.testing.assert_close(TBPTTLoss()(model, batches[0])[0], loss_fn(model, batches[0])[0])
    assert float(metrics["ppl"]) == pytest.approx(float(torch.exp(loss.detach())), rel=1e-5)


def test_lstm_lm_overfits_a_repeating_stream():
    torch.manual_seed(0)
    stream = torch.tensor([1, 2, 3, 4, 5, 6, 7] * 40)
    model = LSTMLM(LSTMLMConfig(vocab_size=10, d_model=32, d_hidden=32, n_layers=1, dropout=0.0))
    before = evaluate_lm(model, stream, batch_size=2, bptt=10)
    fit(model, BPTTBatches(stream, batch_size=4, bptt=10), TBPTTLoss(), max_steps=150, lr=1e-2,
        device="cpu", progress=False)
    after = evaluate_lm(model, stream, batch_size=2, bptt=10)
    assert before > 2.0 and after < 0.1
