"""Write the committed corpus of graded submissions in this folder (run it from the repo root).

    .venv/bin/python tests/grading_cases/make_cases.py

Each case is what a learner could hand in for exercise 00: the solved notebook, the untouched
exercise, or one of them broken in a way real submissions break. ``tests/test_grading_grader.py``
grades the folder and checks the status and reason of every case (CASES below says what each
one is). The files are committed, like real submissions they do not change when the master
does; rerun this script only when a case itself must change.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from ptm_course.grading.build import BEGIN_HIDDEN, END_HIDDEN, STUB  # noqa: E402

MASTER = ROOT / "solutions" / "00_overview_exercises.ipynb"
EXERCISE = ROOT / "exercises" / "00_overview_exercises.ipynb"


def _solved(source: str) -> str:
    """A master cell as a learner who solved it would have it: no markers, no hidden tests."""
    out, hidden = [], False
    for line in source.split("\n"):
        text = line.strip()
        if text.startswith(BEGIN_HIDDEN):
            hidden = True
        elif text.startswith(END_HIDDEN):
            hidden = False
        elif hidden or text.startswith(STUB) or text.startswith("### BEGIN SOLUTION") or text.startswith("### END SOLUTION"):
            continue
        else:
            out.append(line)
    return "\n".join(out).rstrip()


def perfect() -> nbformat.NotebookNode:
    exercise = nbformat.read(EXERCISE, as_version=4)
    master = nbformat.read(MASTER, as_version=4)
    nb = copy.deepcopy(exercise)
    nb.cells = []
    for i, cell in enumerate(master.cells):
        src = _solved(cell.source)
        new = nbformat.v4.new_code_cell(src) if cell.cell_type == "code" else nbformat.v4.new_markdown_cell(src)
        new["id"] = f"cell-{i:02d}"
        nb.cells.append(new)
    return nb


def unsolved() -> nbformat.NotebookNode:
    return nbformat.read(EXERCISE, as_version=4)


def find(nb: nbformat.NotebookNode, text: str) -> int:
    """Index of the first cell whose source contains ``text``."""
    for i, cell in enumerate(nb.cells):
        if text in cell.source:
            return i
    raise KeyError(text)


def replace_function(nb: nbformat.NotebookNode, name: str, new_source: str) -> None:
    nb.cells[find(nb, f"def {name}(")].source = new_source


def code(src: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(src)
    cell["id"] = re.sub(r"\W", "", src)[:20] or "cell"
    return cell


def case_partial() -> nbformat.NotebookNode:
    nb = perfect()
    replace_function(nb, "build_vocab", '''def build_vocab(sentences, min_count):
    counts = Counter(token for sentence in sentences for token in sentence)
    kept = sorted(t for t, n in counts.items() if n >= min_count and t != "<unk>")  # alphabetical first
    kept.sort(key=lambda t: -counts[t])
    return ["<unk>"] + kept''')
    replace_function(nb, "bigram_counts", '''def bigram_counts(tokens):
    counts = {}
    for i in range(len(tokens)):
        pair = (tokens[i], tokens[i + 1])
        counts[pair] = counts.get(pair, 0) + 1
    return counts''')
    replace_function(nb, "perplexity", '''def perplexity(log_probs):
    p = 1.0
    for lp in log_probs:
        p *= math.exp(lp)
    return p ** (-1 / len(log_probs))''')
    nb.cells[find(nb, "reflection = ")].source = 'reflection = "Word2vec gives one vector per word; BERT gives one per token."'
    return nb


def case_syntax_error() -> nbformat.NotebookNode:
    nb = perfect()
    replace_function(nb, "bigram_counts", '''def bigram_counts(tokens):
    return dict(Counter(zip(tokens, tokens[1:]))''')
    return nb


def case_infinite_loop() -> nbformat.NotebookNode:
    nb = perfect()
    nb.cells.insert(find(nb, 'check("00.vocab"') + 1, code("# let me wait for the data\nwhile True:\n    pass"))
    return nb


def case_endless_function() -> nbformat.NotebookNode:
    nb = perfect()
    replace_function(nb, "perplexity", '''def perplexity(log_probs):
    total, i = 0.0, 0
    while i < len(log_probs):
        total += log_probs[i]  # forgot i += 1
    return math.exp(-total / len(log_probs))''')
    return nb


def case_exception_mid_notebook() -> nbformat.NotebookNode:
    nb = perfect()
    nb.cells.insert(find(nb, 'check("00.bigrams"') + 1,
                    code('counts = bigram_counts(["a"])\nfirst = counts[("a", "b")]  # KeyError: no such pair'))
    return nb


def case_deleted_cells() -> nbformat.NotebookNode:
    nb = perfect()
    del nb.cells[find(nb, 'check("00.perplexity"')]
    del nb.cells[find(nb, "def perplexity(")]
    return nb


def case_reordered_cells() -> nbformat.NotebookNode:
    nb = perfect()
    i_def, i_check = find(nb, "def build_vocab("), find(nb, 'check("00.vocab"')
    nb.cells[i_def], nb.cells[i_check] = nb.cells[i_check], nb.cells[i_def]  # check before the definition
    i_bi, i_pp = find(nb, "## 2. Counting bigrams"), find(nb, "## 3. Perplexity")
    i_open = find(nb, "## 4. Open question")
    nb.cells[i_bi:i_open] = nb.cells[i_pp:i_open] + nb.cells[i_bi:i_pp]  # perplexity section first
    return nb


def case_renamed_function() -> nbformat.NotebookNode:
    nb = perfect()
    i = find(nb, "def build_vocab(")
    nb.cells[i].source = nb.cells[i].source.replace("def build_vocab(", "def build_vocabulary(")
    nb.cells[find(nb, 'check("00.vocab"')].source = 'check("00.vocab", build_vocabulary)'
    return nb


def case_wrong_type() -> nbformat.NotebookNode:
    nb = perfect()
    replace_function(nb, "build_vocab", '''def build_vocab(sentences, min_count):
    counts = Counter(token for sentence in sentences for token in sentence)
    return Counter({t: n for t, n in counts.items() if n >= min_count})''')
    replace_function(nb, "perplexity", '''def perplexity(log_probs):
    return [math.exp(-lp) for lp in log_probs]''')
    return nb


def case_kernel_dies() -> nbformat.NotebookNode:
    nb = perfect()
    nb.cells.insert(find(nb, 'check("00.vocab"') + 1, code("import os\nos._exit(1)"))
    return nb


def case_no_metadata() -> nbformat.NotebookNode:
    nb = perfect()
    del nb.metadata["ptm_course"]
    return nb


CASES = {
    # file (learner = stem, or the subfolder)   how it was made
    "perfect.ipynb": perfect,
    "unsolved.ipynb": unsolved,
    "partial.ipynb": case_partial,
    "syntax_error.ipynb": case_syntax_error,
    "infinite_loop.ipynb": case_infinite_loop,
    "endless_function.ipynb": case_endless_function,
    "exception_mid_notebook.ipynb": case_exception_mid_notebook,
    "deleted_cells.ipynb": case_deleted_cells,
    "reordered_cells.ipynb": case_reordered_cells,
    "renamed_function.ipynb": case_renamed_function,
    "wrong_type.ipynb": case_wrong_type,
    "kernel_dies.ipynb": case_kernel_dies,
    "no_metadata/00_overview_exercises.ipynb": case_no_metadata,  # exercise from the file name
    "colab_copy/Copy of exercises.ipynb": case_no_metadata,  # exercise from its check() calls
}


def main() -> None:
    for name, make in CASES.items():
        path = HERE / "submissions" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(make(), path)
    text = (HERE / "submissions" / "perfect.ipynb").read_text(encoding="utf-8")
    (HERE / "submissions" / "invalid_json.ipynb").write_text(text[: len(text) // 2], encoding="utf-8")
    (HERE / "submissions" / "not_a_notebook.ipynb").write_text('{"title": "my homework", "answers": [1, 2, 3]}\n',
                                                               encoding="utf-8")
    print(f"wrote {len(CASES) + 2} cases under {HERE / 'submissions'}")


if __name__ == "__main__":
    main()
