# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     notebook_metadata_filter: kernelspec,jupytext,colab,accelerator
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
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
    # YOUR CODE HERE
    raise NotImplementedError("Hint: all four gate pre-activations come from one affine map of x plus one of h, in the order i, f, g, o; the new cell keeps the forget gate's share of the old cell and adds the input gate's share of g, and h reads the new cell through the output gate")


# %%
check("05.lstm_step", lstm_step)


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
    # YOUR CODE HERE
    raise NotImplementedError("Hint: run the loop keeping every hidden state, ask autograd to keep the gradients of these intermediate tensors too, back-propagate once from the loss on the last state, then measure each state's gradient")


# %%
check("05.grad_norms", gradient_norms)

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
    # YOUR CODE HERE
    raise NotImplementedError("Hint: lay the text out as batch_size rows, each a consecutive slice of it; walk along the columns bptt at a time, the targets being the same columns one step later")


# %%
check("05.bptt", bptt_batches)

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
reflection = """
"""

# %%
check("05.reflection", reflection)

# %% [markdown]
# ## Your score

# %%
summary("05")
