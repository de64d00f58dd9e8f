"""Exercise 06: ELMo's pieces — character ids, a highway layer, ScalarMix, the backward LM's targets.

Notebook: ``exercises/06_elmo_exercises.ipynb`` (master: ``solutions/``). Six questions:

- ``06.char_ids`` — ``char_ids(word, max_chars)``: ELMo's character ids of one token (bilm-tf's
  values + 1: BOW 259, EOW 260, PAD 261, BOS 257, EOS 258; ``<S>``/``</S>`` spelled with BOS/EOS);
- ``06.highway`` — ``highway(x, W, b)``: one highway layer y = σ(g)·x + (1 − σ(g))·relu(n);
- ``06.scalar_mix`` — ``scalar_mix(layers, w, gamma)``: γ · Σ_k softmax(w)_k · h_k;
- ``06.backward_targets`` — ``backward_targets(word_ids, ignore_index)``: what the backward LM
  predicts at every position (the previous word);
- ``06.directions`` — ``direction_features(fwd, bwd, lengths, use)``: the features a task reads
  from one biLM layer — forward, backward (realigned from the backward LM's reading order to
  token order, per sentence length) or [forward; backward] — with zeros at padding;
- ``06.reflection`` — an open question on why ELMo keeps both directions, graded with a rubric.
"""

from __future__ import annotations

from typing import Callable

from ..core import Criterion, Exercise, Mismatch, Question, Rubric, Test, case, expect_tensor

__all__ = ["EXERCISE"]

# ---- 06.char_ids ----------------------------------------------------------------------------

CHAR_IDS = Question(
    "06.char_ids",
    "char_ids",
    "ELMo's character ids",
    tests=(
        case("a short word: BOW, bytes + 1, EOW, PAD", "cat", 8, expected=[259, 100, 98, 117, 260, 261, 261, 261],
             hint="ids are byte + 1 (ord('c') = 99 → 100); BOW = 258 + 1, EOW = 259 + 1, PAD = 260 + 1"),
        case("the sentence start <S>", "<S>", 5, expected=[259, 257, 260, 261, 261],
             hint="<S> is not spelled letter by letter: it is [BOW, BOS, EOW] with BOS = 256 + 1"),
        case("the sentence end </S>", "</S>", 4, expected=[259, 258, 260, 261],
             hint="</S> is [BOW, EOS, EOW] with EOS = 257 + 1"),
        case("a long word is cut to max_chars − 2 bytes", "abcdefgh", 6, expected=[259, 98, 99, 100, 101, 260],
             hint="keep word.encode('utf-8')[: max_chars - 2], so that BOW and EOW always fit"),
        case("non-ASCII: UTF-8 bytes", "é", 5, expected=[259, 0xC3 + 1, 0xA9 + 1, 260, 261],
             hint="iterate over word.encode('utf-8'), not over the characters of the string"),
    ),
)

# ---- 06.highway -----------------------------------------------------------------------------


def _highway_case(B: int, d: int, seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        g = torch.Generator().manual_seed(seed)
        x = torch.randn(B, d, generator=g)
        W = torch.randn(2 * d, d, generator=g)
        b = torch.randn(2 * d, generator=g)
        proj = x @ W.T + b
        n, gate = proj[:, :d], torch.sigmoid(proj[:, d:])
        expected = gate * x + (1 - gate) * torch.relu(n)
        expect_tensor(fn(x, W, b), expected, f"highway(x ({B}, {d}), W ({2 * d}, {d}), b ({2 * d},))")

    return test


def _highway_carry(fn: Callable) -> None:
    import torch

    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(5))
    W = torch.zeros(8, 4)
    b = torch.cat([torch.zeros(4), torch.full((4,), 30.0)])  # gate σ(30) ≈ 1: carry x through
    expect_tensor(fn(x, W, b), x, "highway(x, W = 0, b = [0…0, 30…30])  (gate open: y ≈ x)")


HIGHWAY = Question(
    "06.highway",
    "highway",
    "One highway layer",
    tests=(
        Test("a batch of 2 vectors of size 3", _highway_case(2, 3, 0), points=1,
             hint="proj = x @ W.T + b has 2d columns: the first d are n, the last d are the gate g"),
        Test("a batch of 5 vectors of size 6", _highway_case(5, 6, 1), points=1,
             hint="y = sigmoid(g) * x + (1 - sigmoid(g)) * relu(n)"),
        Test("a fully open gate carries x through", _highway_carry, points=1,
             hint="the gate multiplies x (the carried input), 1 − gate multiplies relu(n)"),
    ),
)

# ---- 06.scalar_mix --------------------------------------------------------------------------


def _mix_case(n_layers: int, seed: int, gamma: float) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        g = torch.Generator().manual_seed(seed)
        layers = [torch.randn(2, 3, 4, generator=g) for _ in range(n_layers)]
        w = torch.randn(n_layers, generator=g)
        s = torch.softmax(w, dim=0)
        expected = gamma * sum(s[k] * layers[k] for k in range(n_layers))
        expect_tensor(fn(layers, w, torch.tensor(gamma)), expected,
                      f"scalar_mix(<{n_layers} layers of shape (2, 3, 4)>, w={[round(v, 3) for v in w.tolist()]}, gamma={gamma})")

    return test


def _mix_init(fn: Callable) -> None:
    import torch

    layers = [torch.full((2, 2), float(k)) for k in range(3)]  # 0, 1, 2
    expect_tensor(fn(layers, torch.zeros(3), torch.tensor(1.0)), torch.full((2, 2), 1.0),
                  "scalar_mix([0s, 1s, 2s], w=zeros(3), gamma=1)  (the initial mix is the plain mean)")


SCALAR_MIX = Question(
    "06.scalar_mix",
    "scalar_mix",
    "ScalarMix",
    tests=(
        Test("at initialisation (w = 0, γ = 1) it is the mean", _mix_init, points=1,
             hint="s = torch.softmax(w, dim=0): with w = 0 every layer gets 1/K"),
        Test("three layers, random weights, γ = 0.5", _mix_case(3, 0, 0.5), points=1,
             hint="γ · Σ_k s_k · h_k — normalise w with a softmax, do not use w directly"),
        Test("five layers, γ = 2", _mix_case(5, 1, 2.0), points=1,
             hint="loop over k, or stack the layers and use torch.einsum('k,k...->...', s, torch.stack(layers))"),
    ),
)

# ---- 06.backward_targets --------------------------------------------------------------------


def _targets_tensor(fn: Callable) -> None:
    import torch

    ids = torch.tensor([[1, 7, 8, 9, 2], [1, 5, 2, -100, -100]])
    expected = torch.tensor([[-100, 1, 7, 8, 9], [-100, 1, 5, 2, -100]])
    got = fn(ids, -100)
    call = "backward_targets(torch.tensor([[1, 7, 8, 9, 2], [1, 5, 2, -100, -100]]), -100)"
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape or not torch.equal(got, expected):
        raise Mismatch("wrong targets", call=call, expected=str(expected.tolist()),
                       got=str(got.tolist() if isinstance(got, torch.Tensor) else got))


def _targets_ignore(fn: Callable) -> None:
    import torch

    ids = torch.tensor([[4, 5, 6]])
    expected = torch.tensor([[-1, 4, 5]])
    got = fn(ids, -1)
    if not isinstance(got, torch.Tensor) or not torch.equal(got, expected):
        raise Mismatch("wrong targets", call="backward_targets(torch.tensor([[4, 5, 6]]), -1)",
                       expected=str(expected.tolist()), got=str(got.tolist() if isinstance(got, torch.Tensor) else got))


def _targets_unchanged(fn: Callable) -> None:
    import torch

    ids = torch.tensor([[3, 4, 5]])
    fn(ids, -100)
    if ids.tolist() != [[3, 4, 5]]:
        raise Mismatch("the function changed its input", call="backward_targets(ids, -100); ids",
                       expected="[[3, 4, 5]]", got=str(ids.tolist()))


BACKWARD_TARGETS = Question(
    "06.backward_targets",
    "backward_targets",
    "The backward LM's targets",
    tests=(
        Test("targets are the previous word; padding stays ignored", _targets_tensor, points=2,
             hint="the backward LM at position t predicts the word at t − 1: shift the ids one step to the RIGHT"),
        Test("position 0 has no previous word: ignore_index", _targets_ignore, points=1,
             hint="torch.cat([a column of ignore_index, word_ids[:, :-1]], dim=1)"),
        Test("the input is not modified", _targets_unchanged, points=1,
             hint="build a new tensor (torch.cat or .clone()) instead of writing into word_ids"),
    ),
)

# ---- 06.directions --------------------------------------------------------------------------


def _directions_case(lengths: list[int], d: int, use: str, seed: int) -> Callable[[Callable], None]:
    def test(fn: Callable) -> None:
        import torch

        g = torch.Generator().manual_seed(seed)
        B, T = len(lengths), max(lengths) + 1  # at least one padding column
        fwd = torch.randn(B, T, d, generator=g)
        bwd = torch.randn(B, T, d, generator=g)  # padding entries hold random values too
        parts = {"forward": [], "backward": []}
        for b, n in enumerate(lengths):
            parts["forward"].append(torch.cat([fwd[b, :n], torch.zeros(T - n, d)]))
            parts["backward"].append(torch.cat([bwd[b, :n].flip(0), torch.zeros(T - n, d)]))
        f, bw = torch.stack(parts["forward"]), torch.stack(parts["backward"])
        expected = {"forward": f, "backward": bw, "both": torch.cat([f, bw], dim=-1)}[use]
        expect_tensor(fn(fwd, bwd, torch.tensor(lengths), use), expected,
                      f"direction_features(fwd ({B}, {T}, {d}), bwd ({B}, {T}, {d}), lengths={lengths}, use={use!r})")

    return test


DIRECTIONS = Question(
    "06.directions",
    "direction_features",
    "Forward, backward or both",
    tests=(
        Test("both directions, sentences of equal length", _directions_case([4, 4], 3, "both", 0), points=2,
             hint="torch.cat([fwd, backward_in_token_order], dim=-1), forward first; with equal lengths n, "
                  "backward_in_token_order[:, t] = bwd[:, n - 1 - t], i.e. bwd[:, :n].flip(1)"),
        Test("padded sentences: each reversed within its own length", _directions_case([5, 2, 1], 2, "both", 1),
             points=1, hint="do not flip the whole time axis (that moves padding to the front): per sentence "
                            "of length n use index n - 1 - t, e.g. idx = torch.where(t < n, n - 1 - t, t) with "
                            "bwd.gather(1, idx.unsqueeze(-1).expand_as(bwd))"),
        Test("use='backward' returns only the realigned backward states", _directions_case([3, 5], 4, "backward", 2),
             points=1, hint="use picks the features: 'forward' → fwd, 'backward' → the realigned bwd, "
                            "'both' → the two concatenated (2d features)"),
        Test("use='forward' keeps the forward states, padding zeroed", _directions_case([2, 4, 3], 3, "forward", 3),
             points=1, hint="multiply by the mask of real tokens, (torch.arange(T) < lengths[:, None]).unsqueeze(-1), "
                            "so that padding positions are 0"),
    ),
)

# ---- 06.reflection --------------------------------------------------------------------------

REFLECTION = Question(
    "06.reflection",
    "reflection",
    "Why both directions? (open question)",
    rubric=Rubric((
        Criterion("Says what the forward state (w_1 … w_t) and the backward state (w_t … w_T) of a word have seen, "
                  "with an example where the sense of an ambiguous word is decided by words on one side only.", 2),
        Criterion("Explains why the two LMs are separate (one network reading the whole sentence could copy the "
                  "word it predicts; the no-leak check) and that training maximises the sum of both directions' "
                  "log-likelihoods.", 1),
        Criterion("Uses a measurement of chapter 06: one token-layer vector per word, contextual vectors grouped by "
                  "sense, or the different ScalarMix proportions of the two tasks.", 1),
    )),
)

EXERCISE = Exercise("06", "ELMo: character ids, highway, ScalarMix, biLM targets, directions",
                    (CHAR_IDS, HIGHWAY, SCALAR_MIX, BACKWARD_TARGETS, DIRECTIONS, REFLECTION))
