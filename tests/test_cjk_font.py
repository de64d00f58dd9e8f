"""Chinese plot labels: use_cjk_font() finds a CJK font, or warns and cjk_label() falls back."""

from __future__ import annotations

import importlib.util
import warnings

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from ptm_course import viz  # noqa: E402
from ptm_course.viz import cjk_label, use_cjk_font  # noqa: E402


@pytest.fixture(autouse=True)
def restore_rc_params():
    """use_cjk_font() changes the process's rcParams: give every test its own copy."""
    with matplotlib.rc_context():
        yield


def _render(tmp_path, title: str) -> list[str]:
    """Draw a figure with ``title`` and a negative tick to a PNG; the warnings matplotlib emitted."""
    fig, ax = plt.subplots(figsize=(3, 2))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ax.plot([-1, 0, 1], [1, 0, 1])
            ax.set_title(title)
            ax.set_xlabel(cjk_label("词向量", "word vectors"))
            fig.savefig(tmp_path / "figure.png")
    finally:
        plt.close(fig)
    assert (tmp_path / "figure.png").stat().st_size > 0
    return [str(w.message) for w in caught]


@pytest.mark.skipif(importlib.util.find_spec("mplfonts") is None, reason="needs the mplfonts package")
def test_mplfonts_font_draws_chinese(tmp_path):
    before = list(matplotlib.rcParams["font.sans-serif"])
    family = use_cjk_font()
    assert family == "Noto Sans CJK SC"
    assert matplotlib.rcParams["font.sans-serif"] == [family, *before]  # Latin fonts stay behind it
    assert matplotlib.rcParams["axes.unicode_minus"] is False
    assert cjk_label("知识掩码", "knowledge masking") == "知识掩码"
    messages = _render(tmp_path, "ERNIE 的知识掩码 (knowledge masking)")
    assert not [m for m in messages if "missing from" in m], messages
    # a second call registers nothing twice and keeps one entry per family
    assert use_cjk_font() == family
    assert matplotlib.rcParams["font.sans-serif"].count(family) == 1


def test_without_defaults_chinese_glyphs_are_missing(tmp_path):
    """The check above can fail: matplotlib's default font has no Chinese glyphs."""
    matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans"]
    messages = _render(tmp_path, "知识掩码")
    assert [m for m in messages if "missing from" in m], messages


def test_no_cjk_font_warns_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(viz, "_mplfonts_cjk_file", lambda: None)
    monkeypatch.setattr(viz, "_known_cjk_family", lambda: None)
    monkeypatch.setattr(viz, "_system_cjk_font_files", lambda: [])
    matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans", "Arial"]
    with pytest.warns(UserWarning, match="fall back") as record:
        assert use_cjk_font() is None
    message = str(record[0].message)
    assert "pip install mplfonts" in message and "apt-get install fonts-noto-cjk" in message
    assert matplotlib.rcParams["font.sans-serif"] == ["DejaVu Sans", "Arial"]  # untouched
    assert cjk_label("知识掩码", "knowledge masking") == "knowledge masking"


def test_cjk_label_follows_the_active_font():
    matplotlib.rcParams["font.family"] = ["sans-serif"]
    matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans"]
    assert cjk_label("词", "word") == "word"
    matplotlib.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "DejaVu Sans"]
    assert cjk_label("词", "word") == "词"
    matplotlib.rcParams["font.family"] = ["serif"]  # the CJK font is not the one in use
    assert cjk_label("词", "word") == "word"


def test_rc_context_undoes_the_font_change():
    before = (list(matplotlib.rcParams["font.sans-serif"]), matplotlib.rcParams["axes.unicode_minus"])
    with matplotlib.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # where no CJK font exists, nothing changes anyway
        use_cjk_font()
    assert (list(matplotlib.rcParams["font.sans-serif"]), matplotlib.rcParams["axes.unicode_minus"]) == before
