"""Chapter 07's views of a BERT: the attention probabilities and the fill-in-the-blank playground."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from ptm_course.data.wordpiece import train_wordpiece  # noqa: E402
from ptm_course.models.bert import BertConfig, BertForPreTraining, BertModel  # noqa: E402
from ptm_course.models.transformer import merge_heads, split_heads  # noqa: E402
from ptm_course.viz import attention_weights, fill_mask, fill_mask_playground, plot_attention  # noqa: E402


def _model(seed=0):
    torch.manual_seed(seed)
    return BertForPreTraining(BertConfig.tiny(vocab_size=200, d_model=32, n_heads=4, d_ff=64, n_layers=2)).eval()


def test_attention_weights_are_the_ones_the_layer_uses():
    model = _model()
    ids = torch.randint(5, 200, (2, 7))
    am = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    w = attention_weights(model, ids, attention_mask=am)
    assert w.shape == (2, 2, 4, 7, 7)
    # rows are distributions, padding keys get exactly 0
    assert torch.allclose(w.sum(-1), torch.ones(2, 2, 4, 7), atol=1e-6)
    assert (w[:, 1, :, :, 4:] == 0).all() and (w[:, 0] > 0).all()
    # the recorded probabilities reproduce each attention module's output: weights @ V, then W_O
    outputs, inputs = [], []

    def keep(module, args, kwargs, out):  # returns None: the output is left as it is
        inputs.append(args[0])
        outputs.append(out)

    hooks = [layer.attn.register_forward_hook(keep, with_kwargs=True) for layer in model.bert.layers]
    with torch.no_grad():
        model.bert(ids, attention_mask=am)
        for h in hooks:
            h.remove()
        for layer, x, out, probs in zip(model.bert.layers, inputs, outputs, w):
            v = split_heads(layer.attn.v_proj(x), layer.attn.n_heads)
            assert torch.allclose(layer.attn.o_proj(merge_heads(probs @ v)), out, atol=1e-5)


def test_attention_weights_leave_the_model_unchanged():
    model = _model()
    ids = torch.randint(5, 200, (1, 6))
    with torch.no_grad():
        before = model(ids)[0]
    w = attention_weights(model.bert, ids)  # a BertModel works as well as a head
    with torch.no_grad():
        after = model(ids)[0]
    assert torch.equal(before, after)
    assert all(not layer.attn._forward_pre_hooks for layer in model.bert.layers), "a hook was left behind"
    assert torch.allclose(w.sum(-1), torch.ones_like(w.sum(-1)), atol=1e-6)
    # another head's attention differs: the heads are not one repeated map
    assert not torch.allclose(w[0, 0, 0], w[0, 0, 1])


@pytest.fixture(scope="module")
def tok():
    return train_wordpiece(["the cat sat on the mat .", "a dog ran in the park ."] * 30, vocab_size=80, min_frequency=1)


def test_plot_attention_draws_one_panel_per_head(tok):
    torch.manual_seed(0)
    model = BertModel(BertConfig.tiny(vocab_size=tok.get_vocab_size(), d_model=32, n_heads=4, d_ff=64, n_layers=2))
    fig = plot_attention(model, tok, "the cat sat", layer=-1, heads=(0, 3))
    assert len(fig.axes) == 2
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == tok.encode("the cat sat").tokens and labels[0] == "[CLS]"
    assert fig.axes[1].get_title().startswith("layer 2 of 2, head 3")


def test_fill_mask_ranks_the_mlm_head_logits(tok):
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.tiny(vocab_size=tok.get_vocab_size(), d_model=32, n_heads=4, d_ff=64)).eval()
    preds = fill_mask(model, tok, "the [MASK] sat on the [MASK] .", k=3)
    assert len(preds) == 2 and all(len(p) == 3 for p in preds)
    enc = tok.encode("the [MASK] sat on the [MASK] .")
    pos = enc.ids.index(tok.token_to_id("[MASK]"))
    with torch.no_grad():
        probs = model(torch.tensor([enc.ids]))[0][0, pos].softmax(-1)
    top = probs.topk(3)
    assert [w for w, _ in preds[0]] == [tok.id_to_token(int(i)) for i in top.indices]
    assert [p for _, p in preds[0]] == pytest.approx(top.values.tolist())
    assert preds[0][0][1] >= preds[0][1][1] >= preds[0][2][1]
    with pytest.raises(ValueError, match="no \\[MASK\\]"):
        fill_mask(model, tok, "the cat sat")


def test_fill_mask_playground_prints_headless(tok, capsys):
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.tiny(vocab_size=tok.get_vocab_size(), d_model=32, n_heads=4, d_ff=64))
    assert fill_mask_playground(model, tok, "the [MASK] sat", k=2, use_widgets=False) is None
    printed = capsys.readouterr().out
    first = fill_mask(model, tok, "the [MASK] sat", k=2)[0][0]
    assert "the [MASK] sat" in printed and f"{first[0]} {first[1]:.3f}" in printed


def test_fill_mask_playground_widget_updates(tok):
    widgets = pytest.importorskip("ipywidgets")
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.tiny(vocab_size=tok.get_vocab_size(), d_model=32, n_heads=4, d_ff=64))
    box = fill_mask_playground(model, tok, "the [MASK] sat", k=2)
    assert isinstance(box, widgets.VBox)
    text, out = box.children
    assert "[MASK] 1" in out.value
    text.value = "no blank here"
    assert "no [MASK]" in out.value
    text.value = "[MASK] dog ran in the [MASK]"
    assert "[MASK] 2" in out.value
