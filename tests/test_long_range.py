"""Long-range dependencies: gradient against distance, and the recall task (ptm_course.encoders.long_range)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ptm_course.encoders import (LastTokenReader, LSTMCell, RNNCell, input_gradient_vs_distance, recall_accuracy,
                                 recall_batches, recall_loss, unroll)
from ptm_course.train import fit


def test_the_gradient_vanishes_through_a_recurrence_and_not_through_attention():
    torch.manual_seed(0)
    x = torch.randn(8, 60, 32)
    rnn = input_gradient_vs_distance(lambda z: unroll(RNNCell(32, 32), z), x)
    lstm = input_gradient_vs_distance(lambda z: unroll(LSTMCell(32, 32, forget_bias=1.0), z), x)
    attn = input_gradient_vs_distance(nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True), x)
    assert rnn.shape == lstm.shape == attn.shape == (60,)
    assert rnn[30] / rnn[0] < 1e-3  # geometric decay through tanh and W_hh
    assert lstm[30] / lstm[0] > 100 * rnn[30] / rnn[0]  # the cell state carries it further
    far = attn[1:]
    assert far.min() / far.max() > 0.3  # every earlier position one step away: flat


def test_the_gradient_is_the_autograd_one_for_a_linear_map():
    # y_t = Σ_{s<=t} A x_s (a running sum): ∂(u·y_{T-1})/∂x_t = Aᵀu for every t, so the curve is flat
    A = torch.randn(3, 4)
    g = input_gradient_vs_distance(lambda z: (z @ A.T).cumsum(1), torch.randn(2, 6, 4))
    u = torch.randn(3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(g, torch.full((6,), float((A.T @ (u / u.norm())).norm())))


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="batch, time, features"):
        input_gradient_vs_distance(lambda z: z, torch.randn(4, 5))
    with pytest.raises(ValueError, match="must return"):
        input_gradient_vs_distance(lambda z: z[:, -1], torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match="kind must be one of"):
        LastTokenReader("gru", 10)
    with pytest.raises(ValueError, match="exceeds seq_len"):
        LastTokenReader("transformer", 10, seq_len=4)(torch.ones(1, 6, dtype=torch.long))


def test_the_recall_task_and_who_learns_it():
    b = recall_batches(2, 4, 10, 8, seed=1)
    assert b[0]["ids"].shape == (4, 10) and torch.equal(b[0]["target"], b[0]["ids"][:, 0])
    assert int(b[0]["ids"].min()) >= 1 and int(b[0]["ids"].max()) < 8
    test = recall_batches(4, 64, 24, 12, seed=99)
    torch.manual_seed(0)
    attn = LastTokenReader("transformer", 12, d_model=32, seq_len=24)
    fit(attn, recall_batches(150, 32, 24, 12, seed=0), recall_loss, max_steps=150, lr=3e-3, progress=False, device="cpu")
    assert recall_accuracy(attn, test) > 0.9
    torch.manual_seed(0)
    rnn = LastTokenReader("rnn", 12, d_model=32, d_hidden=64)
    fit(rnn, recall_batches(150, 32, 24, 12, seed=0), recall_loss, max_steps=150, lr=3e-3, progress=False, device="cpu")
    assert recall_accuracy(rnn, test) < 0.3  # 23 steps back: the RNN's gradient has vanished (chance 1/11)
