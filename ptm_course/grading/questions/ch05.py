"""Exercise 05: one LSTM step, a gradient norm through time, truncated-BPTT batches.

Notebook: ``exercises/05_rnn_lstm_exercises.ipynb`` (master: ``solutions/``). Four questions:

- ``05.lstm_step`` — ``lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh)``: one LSTM step in PyTorch's
  layout (gates i, f, g, o), returning ``(h_t, c_t)``; compared with ``nn.LSTMCell``;
- ``05.grad_norms`` — ``gradient_norms(cell, x)``: ‖∂L/∂h_t‖ for every step t when
  L = h_{T-1}.sum(), averaged over the batch; compared with a reference computation;
- ``05.bptt`` — ``bptt_batches(ids, batch_size, bptt)``: the (x, y) pairs of truncated BPTT,
  compared with :class:`ptm_course.encoders.BPTTBatches`;
- ``05.reflection`` — an open question on the slow cell state, graded with a rubric.
"""

from __future__ import annotations

from typing import Callable

from ..core import Criterion, Exercise, Mismatch, Question, Rubric, Test, expect_tensor

__all__ = ["EXERCISE"]


# ---- 05.lstm_step ---------------------------------------------------------------------------


def _lstm_case(batch: int, input_size: int, hidden: int, seed: int, zero_state: bool) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        torch.manual_seed(seed)
        ref = torch.nn.LSTMCell(input_size, hidden)
        x = torch.randn(batch, input_size)
        h = torch.zeros(batch, hidden) if zero_state else torch.randn(batch, hidden)
        c = torch.zeros(batch, hidden) if zero_state else torch.randn(batch, hidden)
        eh, ec = ref(x, (h, c))
        call = f"lstm_step(x ({batch}, {input_size}), h, c ({batch}, {hidden}), <nn.LSTMCell's weights>)"
        out = fn(x, h, c, ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise Mismatch(f"wrong return type: expected a tuple (h, c), got {type(out).__name__}", call=call)
        expect_tensor(out[1], ec, call + "[1] (the cell state c_t)")
        expect_tensor(out[0], eh, call + "[0] (the hidden state h_t)")

    return test


LSTM_STEP = Question(
    "05.lstm_step",
    "lstm_step",
    "One LSTM step",
    tests=(
        Test("from a zero state, equals nn.LSTMCell", _lstm_case(2, 3, 4, 0, True), points=1,
             hint="gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, then gates.chunk(4, dim=-1) gives i, f, g, o"),
        Test("from a random state, c_t = f·c + i·g", _lstm_case(3, 5, 6, 1, False), points=2,
             hint="i, f, o go through sigmoid, g through tanh; c_t = f * c + i * g"),
        Test("h_t = o·tanh(c_t), batch of 1", _lstm_case(1, 2, 8, 2, False), points=1,
             hint="the hidden state uses the NEW cell state: h_t = o * tanh(c_t)"),
    ),
)

# ---- 05.grad_norms --------------------------------------------------------------------------


def _reference_norms(cell, x) -> list[float]:
    hs, state = [], None
    for t in range(x.size(1)):
        state = cell(x[:, t], state)
        h = state[0] if isinstance(state, tuple) else state
        h.retain_grad()
        hs.append(h)
    hs[-1].sum().backward()
    return [float(h.grad.norm(dim=-1).mean()) for h in hs]


def _grad_case(kind: str, T: int, seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.encoders import LSTMCell, RNNCell

        torch.manual_seed(seed)
        make = (lambda: RNNCell(4, 8)) if kind == "rnn" else (lambda: LSTMCell(4, 8, forget_bias=1.0))
        cell = make()
        x = torch.randn(3, T, 4)
        expected = _reference_norms(cell, x)
        cell.zero_grad()
        call = f"gradient_norms({kind.upper()}Cell(4, 8), x of shape (3, {T}, 4))"
        got = fn(cell, x)
        if isinstance(got, torch.Tensor):
            got = got.tolist()
        if not isinstance(got, (list, tuple)) or len(got) != T:
            raise Mismatch(f"expected a list of {T} floats (one per step t)", call=call,
                           expected=f"{T} numbers", got=repr(got)[:200])
        for t, (g, e) in enumerate(zip(got, expected)):
            if abs(float(g) - e) > 1e-4 * max(1.0, abs(e)) + 1e-7:
                raise Mismatch(f"wrong norm at t={t}: expected {e:.6g}, got {float(g):.6g}", call=call,
                               expected=str([round(v, 6) for v in expected]), got=str([round(float(v), 6) for v in got]))

    return test


GRAD_NORMS = Question(
    "05.grad_norms",
    "gradient_norms",
    "The gradient norm through time",
    tests=(
        Test("an RNN over 6 steps", _grad_case("rnn", 6, 0), points=2,
             hint="call h.retain_grad() on every hidden state, then L = h_last.sum(); L.backward()"),
        Test("an LSTM over 9 steps (the state is a tuple (h, c))", _grad_case("lstm", 9, 1), points=1,
             hint="an LSTMCell returns (h, c): keep state[0] as h_t and pass the whole tuple to the next step"),
        Test("the last step's gradient is exactly ‖1‖ = √H", _grad_case("rnn", 1, 2), points=1,
             hint="index the list by t (0 = first step), and average the per-example norms over the batch"),
    ),
)

# ---- 05.bptt --------------------------------------------------------------------------------


def _bptt_case(n: int, batch_size: int, bptt: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        from ptm_course.encoders import BPTTBatches

        ids = torch.arange(100, 100 + n)
        expected = [(b.x, b.y) for b in BPTTBatches(ids, batch_size, bptt)]
        call = f"bptt_batches(torch.arange(100, {100 + n}), batch_size={batch_size}, bptt={bptt})"
        got = list(fn(ids, batch_size, bptt))
        if len(got) != len(expected):
            raise Mismatch(f"expected {len(expected)} batches, got {len(got)}", call=call,
                           expected=str([tuple(x.shape) for x, _ in expected]), got=str(len(got)))
        for k, ((x, y), (ex, ey)) in enumerate(zip(got, expected)):
            for name, a, b in (("x", x, ex), ("y", y, ey)):
                if not isinstance(a, torch.Tensor) or a.shape != b.shape or not torch.equal(a, b):
                    raise Mismatch(f"batch {k}: wrong {name}", call=call, expected=str(b.tolist()),
                                   got=str(a.tolist() if isinstance(a, torch.Tensor) else a))

    return test


BPTT = Question(
    "05.bptt",
    "bptt_batches",
    "Truncated-BPTT batches",
    tests=(
        Test("20 tokens, 2 streams, bptt 4", _bptt_case(20, 2, 4), points=1,
             hint="data = ids[: n * B].view(B, n) with n = len(ids) // B: row b is the b-th slice of the text"),
        Test("the last batch is shorter", _bptt_case(23, 2, 5), points=1,
             hint="batches start at 0, bptt, 2·bptt … while start < n − 1; y is x shifted by one column"),
        Test("3 streams, tokens left over are dropped", _bptt_case(50, 3, 7), points=1,
             hint="targets never run past column n − 1 of the (B, n) matrix"),
    ),
)

# ---- 05.reflection --------------------------------------------------------------------------

REFLECTION = Question(
    "05.reflection",
    "reflection",
    "Why the slow cell state keeps the gradient (open question)",
    rubric=Rubric((
        Criterion("States that along the cell state c_t = f ⊙ c_{t-1} + i ⊙ g the backward factor per step "
                  "is the forget gate f (no tanh derivative, no W_hh product), unlike the RNN's diag(1−h²)·W_hh.", 2),
        Criterion("Connects the notes' picture: c (the upper arrow) changes slowly because f ≈ 1 and little is "
                  "written, h (the lower arrow) is re-read through o ⊙ tanh(c) at every step.", 1),
        Criterion("Mentions a limit: the gradient still shrinks when f < 1, and TBPTT cuts it at the batch "
                  "boundary anyway; or that exploding gradients need clipping.", 1),
    )),
)

EXERCISE = Exercise("05", "One LSTM step, gradients through time, TBPTT", (LSTM_STEP, GRAD_NORMS, BPTT, REFLECTION))
