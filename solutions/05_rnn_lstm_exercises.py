# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     notebook_metadata_filter: kernelspec,jupytext,colab,accelerator
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 05 — one LSTM step, gradients through time, TBPTT (长短期记忆, 梯度消失)
#
# Chapter 05 measured the vanishing gradient and the slow cell state with the package's cells.
# Here you write the pieces yourself: one step of an LSTM, the gradient norm of a loss with
# respect to every hidden state, and the batches of truncated back-propagation through time.
# Then one open question on why the cell state keeps the gradient alive.
#
# **How this notebook works**
#
# 1. Run the setup cell first (on Colab it installs the course package, which takes a minute).
# 2. In each exercise, replace `raise NotImplementedError(...)` with your code. Keep the
#    function's name and arguments: the grader finds your answers by name.
# 3. Run the `check(...)` cell under it: it prints which tests pass, a hint, and your points.
# 4. The last cell prints your score. Before you hand in, restart the kernel and run all cells.
#
# Points: 4 + 4 + 3 checked automatically, and 4 for the open question, graded by your instructor.

# %%
# Setup: on Colab, install the course package; everywhere, pick the device, run preset and seed.
import subprocess, sys
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "ptm-course @ git+https://github.com/ptm-course/ptm-course"], check=True)
from ptm_course.notebook import setup_notebook
ctx = setup_notebook(seed=0)

# %%
import torch

from ptm_course.grading import check, summary

# %% [markdown]
# ## 1. One LSTM step (4 points)
#
# PyTorch stores the four gates of an LSTM in one matrix, in the order **i, f, g, o**:
#
# $$[i; f; g; o] = W_{ih} x + b_{ih} + W_{hh} h + b_{hh}, \qquad i, f, o = \sigma(\cdot),\ g = \tanh(\cdot)$$
# $$c_t = f \odot c + i \odot g, \qquad h_t = o \odot \tanh(c_t)$$
#
# Write `lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh)`: `x` is (B, I), `h` and `c` are (B, H),
# `W_ih` is (4H, I), `W_hh` is (4H, H), the biases (4H,). Return the tuple `(h_t, c_t)`. The
# tests give you the weights of an `nn.LSTMCell` and compare with its output.

# %%
def lstm_step(x, h, c, W_ih, W_hh, b_ih, b_hh):
    """One LSTM step in PyTorch's layout; returns (h_t, c_t)."""
    ### BEGIN SOLUTION hint: all four gate pre-activations come from one affine map of x plus one of h, in the order i, f, g, o; the new cell keeps the forget gate's share of the old cell and adds the input gate's share of g, and h reads the new cell through the output gate
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)
    c_t = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_t = torch.sigmoid(o) * torch.tanh(c_t)
    return h_t, c_t
    ### END SOLUTION


# %%
check("05.lstm_step", lstm_step)
### BEGIN HIDDEN TESTS
from ptm_course.encoders import LSTMCell
from ptm_course.grading import evaluate

cell = LSTMCell(3, 5, forget_bias=1.0)
xb, hb, cb = torch.randn(2, 3), torch.randn(2, 5), torch.randn(2, 5)
ours = lstm_step(xb, hb, cb, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
ref = cell(xb, (hb, cb))
assert torch.allclose(ours[0], ref[0], atol=1e-6) and torch.allclose(ours[1], ref[1], atol=1e-6)
assert evaluate("05.lstm_step", lstm_step).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The gradient norm through time (4 points)
#
# Run a cell over a sequence x (B, T, I), one step after another, starting from a zero state
# (call `cell(x[:, t], state)` with `state=None` at t = 0). Let the loss be the sum of the last
# hidden state, L = h_{T−1}.sum(). Return a list of T floats: entry t is ‖∂L/∂h_t‖, the norm
# over the hidden units, **averaged over the batch**.
#
# The cell is one of the package's `RNNCell` (it returns h) or `LSTMCell` (it returns (h, c)).
# Autograd frees the gradients of intermediate tensors; `h.retain_grad()` keeps them.

# %%
def gradient_norms(cell, x):
    """‖∂L/∂h_t‖ for t = 0 … T−1 with L = h_{T-1}.sum(), averaged over the batch."""
    ### BEGIN SOLUTION hint: run the loop keeping every hidden state, ask autograd to keep the gradients of these intermediate tensors too, back-propagate once from the loss on the last state, then measure each state's gradient
    hiddens, state = [], None
    for t in range(x.size(1)):
        state = cell(x[:, t], state)
        h = state[0] if isinstance(state, tuple) else state
        h.retain_grad()
        hiddens.append(h)
    hiddens[-1].sum().backward()
    return [float(h.grad.norm(dim=-1).mean()) for h in hiddens]
    ### END SOLUTION


# %%
check("05.grad_norms", gradient_norms)
### BEGIN HIDDEN TESTS
# At the last step ∂L/∂h = (1, …, 1), whose norm is √H = 3 for H = 9.
from ptm_course.encoders import RNNCell

torch.manual_seed(0)
rnn = RNNCell(4, 9)
xs = torch.randn(3, 7, 4)
ours = torch.tensor(gradient_norms(rnn, xs))
assert abs(ours[-1].item() - 3.0) < 1e-5
assert ours[0] < ours[-1]  # vanished a little already after 6 steps
assert evaluate("05.grad_norms", gradient_norms).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# Look at what you measured: an RNN against an LSTM whose forget gate starts near 1.

# %%
from ptm_course.encoders import LSTMCell, RNNCell

torch.manual_seed(ctx.seed)
xs = torch.randn(8, 30, 16)
try:
    rnn_norms = gradient_norms(RNNCell(16, 32), xs)
    lstm_norms = gradient_norms(LSTMCell(16, 32, forget_bias=1.0), xs)
    print("RNN  at t = 0, 10, 20, 29:", [f"{rnn_norms[t]:.1e}" for t in (0, 10, 20, 29)])
    print("LSTM at t = 0, 10, 20, 29:", [f"{lstm_norms[t]:.1e}" for t in (0, 10, 20, 29)])
except NotImplementedError:
    print("write gradient_norms above first")

# %% [markdown]
# ## 3. Truncated-BPTT batches (3 points)
#
# Write `bptt_batches(ids, batch_size, bptt)`: `ids` is a 1-D tensor of token ids (one long text).
#
# 1. Let n = len(ids) // batch_size and reshape the first n·batch_size ids to a
#    (batch_size, n) matrix: row b is the b-th consecutive slice of the text.
# 2. Cut the columns into pieces of `bptt`: piece k is x = columns [k·bptt, k·bptt + bptt) and
#    y = the same columns shifted by one; the last piece may be shorter, and y never goes past
#    column n − 1 (so x never contains column n − 1).
#
# Return a list of `(x, y)` pairs. Example: `bptt_batches(torch.arange(20), 2, 4)` starts with
# `x = [[0, 1, 2, 3], [10, 11, 12, 13]]`, `y = [[1, 2, 3, 4], [11, 12, 13, 14]]`.

# %%
def bptt_batches(ids, batch_size, bptt):
    """The (x, y) pairs of truncated BPTT over batch_size parallel streams."""
    ### BEGIN SOLUTION hint: lay the text out as batch_size rows, each a consecutive slice of it; walk along the columns bptt at a time, the targets being the same columns one step later
    n = len(ids) // batch_size
    data = ids[: n * batch_size].view(batch_size, n)  # (B, n)
    out = []
    for start in range(0, n - 1, bptt):
        end = min(start + bptt, n - 1)
        out.append((data[:, start:end], data[:, start + 1 : end + 1]))
    return out
    ### END SOLUTION


# %%
check("05.bptt", bptt_batches)
### BEGIN HIDDEN TESTS
pairs = bptt_batches(torch.arange(101), 4, 6)
assert all(torch.equal(y[:, :-1], x[:, 1:]) for x, y in pairs)
assert evaluate("05.bptt", bptt_batches).status == "passed"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Open question: the slow cell state (4 points, graded by your instructor)
#
# The notes say of the LSTM: 上侧箭头变化慢, 下侧箭头变化快, 保证梯度不会消失 — the upper arrow (the
# cell state) changes slowly, the lower arrow (the hidden state) changes quickly, and this keeps
# the gradient from vanishing. In 4 to 8 sentences, written into `reflection`:
#
# - say what the gradient is multiplied by at each step along the cell state, and along an RNN's
#   hidden state;
# - connect it to your measurement in section 2 and to chapter 05's "relative change per step";
# - name one limit: when does the LSTM's gradient still shrink, or what else does training need?

# %%
### BEGIN SOLUTION
### STUB reflection = """
### STUB """
reflection = """
Along the cell state the update is additive, c_t = f_t * c_{t-1} + i_t * g_t, so going back one
step multiplies the gradient by the forget gate f_t alone: no tanh derivative and no weight
matrix. In an RNN every step multiplies by diag(1 - h_t^2) W_hh, whose norm is usually below 1,
so the product shrinks geometrically. With f close to 1 the cell state is mostly copied, which is
why it changes slowly (the upper arrow), while h_t = o_t * tanh(c_t) is read out afresh at every
step (the lower arrow). My measurement shows it: after 20 steps the RNN's gradient norm is many
orders of magnitude smaller than at the last step, the LSTM's only a little. The limit: when the
forget gates are well below 1 the gradient still vanishes (just more slowly), truncated BPTT cuts
it at the batch boundary anyway, and exploding gradients still need clipping.
"""
### END SOLUTION

# %%
check("05.reflection", reflection)

# %% [markdown]
# ## Your score

# %%
summary("05")
