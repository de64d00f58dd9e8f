"""The examples in the package's docstrings run and print what they say (``>>>`` lines)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import ptm_course


def _modules_with_examples():
    for info in pkgutil.walk_packages(ptm_course.__path__, prefix="ptm_course."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional dependency (the parity or llm extras) is missing here
            continue
        if any(t.examples for t in doctest.DocTestFinder().find(module, module=module)):
            yield info.name


@pytest.mark.parametrize("name", sorted(_modules_with_examples()))
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed (output above)"
