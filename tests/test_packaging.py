"""The repository's own invariants: notebooks paired and clean, set-up files consistent."""

import json
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from ptm_course.data import DATASETS
from ptm_course.notebook import REPO_URL, SETUP_CELL

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("notebooks", "solutions", "exercises")
NOTEBOOKS = sorted(p for folder in FOLDERS for p in (ROOT / folder).glob("*.ipynb"))
IDS = [str(p.relative_to(ROOT)) for p in NOTEBOOKS]


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_there_are_notebooks():
    assert (ROOT / "notebooks" / "00_overview.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_paired_and_in_sync(path):
    script = path.with_suffix(".py")
    assert script.exists(), f"{path.name} has no paired {script.name}: run `jupytext --set-formats ipynb,py:percent {path}`"
    from_ipynb = jupytext.read(path)
    from_py = jupytext.read(script)
    assert _cells(from_ipynb) == _cells(from_py), (
        f"{path.name} and {script.name} differ: edit one, then run `jupytext --to ipynb {script}` "
        "(or --to py:percent from the .ipynb); do not rely on --sync timestamps"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_valid_and_stored_without_outputs(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    nb = nbformat.from_dict(raw)
    nbformat.validate(nb)
    for i, cell in enumerate(raw["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, (
                f"{path.name} cell {i} has stored outputs: clear them "
                "(jupyter nbconvert --clear-output --inplace, or regenerate from the .py)"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_code_cell_is_the_shared_setup_cell(path):
    nb = jupytext.read(path)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source.strip() == SETUP_CELL.strip(), f"{path.name}: the first code cell must be ptm_course.notebook.SETUP_CELL"
    heading = next(c for c in nb.cells if c.cell_type == "markdown").source
    assert heading.startswith("# "), f"{path.name} must open with a title"


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_environment_yml_only_brings_python_and_pip_and_installs_the_dev_extra():
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    deps = env["dependencies"]
    pip_entries = [d for d in deps if isinstance(d, dict)]
    plain = [d for d in deps if isinstance(d, str)]
    assert sorted(re.split(r"[=<>]", d)[0] for d in plain) == ["pip", "python"]
    assert pip_entries == [{"pip": ["-e .[dev]"]}]
    project = _pyproject()["project"]
    assert "dev" in project["optional-dependencies"]
    py = next(d for d in plain if d.startswith("python"))
    minimum = tuple(int(x) for x in re.search(r">=\s*([\d.]+)", project["requires-python"]).group(1).split("."))
    pinned = tuple(int(x) for x in py.split("=", 1)[1].split(".")[:2])
    assert pinned >= minimum, f"environment.yml asks for {py} but pyproject needs {project['requires-python']}"


def test_torch_is_a_loose_lower_bound_and_dev_has_the_notebook_tools():
    project = _pyproject()["project"]
    torch_req = next(d for d in project["dependencies"] if re.match(r"torch\b", d))
    assert re.fullmatch(r"torch>=[\d.]+", torch_req), f"keep torch a lower bound only (Colab's torch must satisfy it), got {torch_req!r}"
    dev = " ".join(project["optional-dependencies"]["dev"])
    for tool in ("pytest", "pytest-xdist", "nbval", "jupyterlab"):
        assert tool in dev
    assert "jupytext" in " ".join(project["dependencies"])
    assert project["name"] == "ptm-course" and project["scripts"]["ptm-course"] == "ptm_course.cli:main"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in readme and "make lab" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_has_a_colab_badge_for_every_chapter_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    org_repo = REPO_URL.removeprefix("https://github.com/")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        url = f"https://colab.research.google.com/github/{org_repo}/blob/main/notebooks/{nb.name}"
        assert url in readme, f"README lacks the Colab badge for {nb.name}"


def test_every_data_set_and_shipped_file_has_an_attribution():
    text = (ROOT / "DATA_ATTRIBUTION.md").read_text(encoding="utf-8")
    for name, info in DATASETS.items():
        assert f"`{name}`" in text, f"DATA_ATTRIBUTION.md does not list the data set {name!r}"
        assert info.license.split(" (")[0].split(";")[0] in text
    shipped = [p for p in (ROOT / "ptm_course").rglob("*") if p.is_file() and "files" in p.parts]
    for path in shipped:
        assert path.name in text, f"shipped data file {path} has no attribution"
    assert (ROOT / "LICENSE").exists()
