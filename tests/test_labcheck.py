"""The browser check's judgement and its errors, without a browser (make test-browser runs the rest).

``tests/browser/labcheck.py`` gathers what JupyterLab drew in Chromium into a snapshot and
``judge`` decides from it; these tests hand ``judge`` snapshots of the shapes the page gives and
check each failure a learner could meet is named. The browser run itself, with its own self-test
of broken notebooks, is ``make test-browser``.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "browser"))
import labcheck  # noqa: E402

WIDGET = labcheck.WIDGET_MIME


def _cell(index, outputs=(), views=None, execution_count=1, source=True, images=(), check=False):
    outputs = [dict(output_type="display_data", mimes=list(m), ename=None, evalue=None) for m in outputs]
    if views is None:
        views = [dict(mime=o["mimes"][0] if o["mimes"] else None, live=WIDGET in o["mimes"], error=False,
                      empty=False, text="") for o in outputs]
    return dict(index=index, type="code", has_source=source, is_check=check, execution_count=execution_count,
                outputs=outputs, images=list(images), svg=0, views=views, output_text="[00.vocab] 4/4 points")


def _snapshot(*cells, statuses=("busy", "idle"), kernel="idle", heading="词表 vocabulary", cjk_glyphs=3):
    return dict(cells=list(cells), statuses=list(statuses), kernel=kernel,
                cjk=dict(heading=heading, fonts=[dict(familyName="DejaVu Sans", glyphCount=10),
                                                 dict(familyName="Noto Sans CJK JP", glyphCount=cjk_glyphs)]))


GOOD = _snapshot(
    dict(index=0, type="markdown", has_source=True, is_check=False, execution_count=None, outputs=[], images=[],
         views=[], output_text=""),
    _cell(1, outputs=[("image/png", "text/plain")], images=[dict(complete=True, width=640)]),
    _cell(2, outputs=[(WIDGET, "text/plain")]),
)


def test_a_clean_run_passes():
    assert labcheck.judge(GOOD) == []


def test_an_error_output_and_the_cells_it_left_unrun_are_named():
    snap = copy.deepcopy(GOOD)
    snap["cells"][1]["outputs"].append(dict(output_type="error", mimes=[], ename="AssertionError", evalue="slow"))
    snap["cells"][1]["views"].append(dict(mime="application/vnd.jupyter.stderr", live=False, error=False,
                                          empty=False, text="AssertionError"))
    snap["cells"][2]["execution_count"] = None
    problems = labcheck.judge(snap)
    assert problems == ["cell 1: error output AssertionError: slow", "cell 2: left unrun"]


def test_an_empty_code_cell_need_not_run():
    snap = copy.deepcopy(GOOD)
    snap["cells"].append(_cell(3, execution_count=None, source=False))
    assert labcheck.judge(snap) == []


def test_a_dead_or_restarted_kernel_fails():
    snap = copy.deepcopy(GOOD)
    snap["statuses"] += ["restarting", "autorestarting", "starting", "idle"]
    assert any("kernel died" in p for p in labcheck.judge(snap))
    snap = copy.deepcopy(GOOD)
    snap["kernel"] = "dead"
    assert any("kernel died" in p for p in labcheck.judge(snap))


def test_an_image_that_did_not_decode_or_was_not_drawn_fails():
    snap = copy.deepcopy(GOOD)
    snap["cells"][1]["images"] = [dict(complete=True, width=0)]
    assert labcheck.judge(snap) == ["cell 1: 1 image(s) did not render"]
    snap["cells"][1]["images"] = []
    assert labcheck.judge(snap) == ["cell 1: 1 image output(s) but 0 drawn in the page"]


def test_widget_errors_and_text_fallbacks_fail():
    snap = copy.deepcopy(GOOD)
    snap["cells"][2]["views"][0].update(live=False, error=True, text="Error displaying widget: model not found")
    assert labcheck.judge(snap) == ["cell 2: widget error: 'Error displaying widget: model not found'"]
    snap = copy.deepcopy(GOOD)
    snap["cells"][2]["views"][0].update(mime="text/plain", live=False, text="VBox(children=(IntSlider(value=0),))")
    [problem] = labcheck.judge(snap)
    assert "text fallback" in problem and "jupyterlab_widgets" in problem
    snap = copy.deepcopy(GOOD)
    snap["cells"][2]["views"] = []
    assert labcheck.judge(snap) == ["cell 2: 1 outputs but 0 drawn in the page"]


def test_a_closed_widget_leaves_an_empty_output_which_is_not_an_error():
    snap = copy.deepcopy(GOOD)
    snap["cells"][2]["views"][0].update(live=False, empty=True)
    assert labcheck.judge(snap) == []


def test_chinese_drawn_without_a_cjk_font_fails_and_says_which_package():
    snap = _snapshot(*GOOD["cells"], cjk_glyphs=0)
    [problem] = labcheck.judge(snap)
    assert "fonts-noto-cjk" in problem and "2 CJK characters but 0" in problem
    snap = _snapshot(*GOOD["cells"], heading=None)
    assert labcheck.judge(snap) == ["no Chinese text found in the notebook's markdown to check the CJK font on"]
    snap["cells"].append(_cell(3, check=True))
    assert labcheck.judge(snap, exercise=True) == []  # an exercise need not quote the notes


def test_exercise_check_cells_must_print_feedback():
    snap = copy.deepcopy(GOOD)
    assert labcheck.judge(snap, exercise=True) == ["an exercise notebook without a check() cell"]
    snap["cells"].append(_cell(3, check=True))
    assert labcheck.judge(snap, exercise=True) == []
    snap["cells"][-1]["output_text"] = "  "
    assert labcheck.judge(snap, exercise=True) == ["cell 3: a check() cell printed no feedback"]


def test_selftest_verdicts_demand_the_expected_reason():
    good = dict(notebook="build/browser-selftest/good.ipynb", problems=[], interaction=dict(kind="slider"))
    err = dict(notebook="build/browser-selftest/error_cell.ipynb", problems=["cell 2: error output ValueError: x"])
    assert labcheck.selftest_verdicts([good, err]) == []
    passed_err = dict(err, problems=[])
    assert "should fail" in labcheck.selftest_verdicts([good, passed_err])[0]
    wrong_reason = dict(err, problems=["cell 1: left unrun"])
    assert "should fail" in labcheck.selftest_verdicts([good, wrong_reason])[0]
    no_slider = dict(good, interaction=dict(kind=None))
    assert "slider" in labcheck.selftest_verdicts([no_slider])[0]


def test_a_missing_browser_is_a_clear_message_and_exit_status_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PTM_CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert labcheck.main(["--out", str(tmp_path / "out"), "notebooks/00_overview.ipynb"]) == 2
    err = capsys.readouterr().err
    assert "is not an executable file" in err and "apt-get install chromium fonts-noto-cjk" in err


def test_bad_notebook_arguments_are_refused(tmp_path, capsys):
    assert labcheck.main(["--out", str(tmp_path), "notebooks/99_nothing_*.ipynb"]) == 2
    assert "no notebook matches" in capsys.readouterr().err
    assert labcheck.main(["--out", str(tmp_path), "notebooks/00_overview.py"]) == 2
    assert "not a .ipynb notebook" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        labcheck.main(["--timeout", "0"])


def test_the_notebook_hash_covers_the_jupytext_pair(tmp_path):
    nb = tmp_path / "a.ipynb"
    nb.write_text("{}")
    (tmp_path / "a.py").write_text("# %%\n")
    before = labcheck.file_hashes(nb)
    assert set(before) == {"a.ipynb", "a.py"}
    (tmp_path / "a.py").write_text("# %%\nx = 1\n")
    assert labcheck.file_hashes(nb) != before
