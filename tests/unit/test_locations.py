"""Lines as a reader finds them: a notebook's lines are named by cell, not by the joined text."""

from __future__ import annotations

import json

import pytest

from plagiarism.notebooks import cell_line, extract_code
from plagiarism.report.locations import CellMap, line_label, span, where

# A markdown cell first, then three code cells of 2, 1 and 3 lines: joined with one blank line
# between cells, they start at lines 1, 4 and 6 of the text the engine numbers.
NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {},
    "cells": [
        {"cell_type": "markdown", "source": "# Title", "metadata": {}},
        {"cell_type": "code", "source": "import torch\nx = 1\n", "outputs": [], "metadata": {}},
        {"cell_type": "markdown", "source": "More", "metadata": {}},
        {"cell_type": "code", "source": "y = 2", "outputs": [], "metadata": {}},
        {"cell_type": "code", "source": "def f():\n    return 3\nz = f()", "metadata": {}},
    ],
}


@pytest.fixture
def cells() -> CellMap:
    code = extract_code(json.dumps(NOTEBOOK).encode())
    assert code.cell_starts == (1, 4, 6)
    assert code.cell_numbers == (2, 4, 5)
    return CellMap(code.cell_starts, code.cell_numbers)


@pytest.mark.parametrize(
    ("line", "expected"),
    [(1, (2, 1)), (2, (2, 2)), (3, None), (4, (4, 1)), (5, None), (6, (5, 1)), (8, (5, 3))],
)
def test_each_line_of_the_joined_text_is_a_line_of_a_cell_or_between_cells(
    cells: CellMap, line: int, expected: tuple[int, int] | None
) -> None:
    assert cells.at(line) == expected


def test_without_cell_numbers_cells_are_counted_among_code_cells() -> None:
    assert cell_line((1, 4, 6), (), 7) == (3, 2)


def test_gutter_labels(cells: CellMap) -> None:
    assert [line_label(cells, n) for n in range(1, 9)] == [
        "2:1", "2:2", "", "4:1", "", "5:1", "5:2", "5:3",
    ]  # fmt: skip
    assert line_label(None, 14) == "14"


def test_spans_name_cells_and_read_a_separator_from_the_cells_side(cells: CellMap) -> None:
    assert span(cells, 6, 8) == "cell 5, lines 1–3"
    assert span(cells, 4, 4) == "cell 4, line 1"
    assert span(cells, 1, 8) == "cell 2 line 1 – cell 5 line 3"
    assert span(cells, 3, 5) == "cell 4, line 1"  # from one separator to the next
    assert span(cells, 2, 3, "-") == "cell 2, line 2"
    assert span(None, 12, 40) == "12–40"
    assert where("m.py", None, 12, 40, "-") == "m.py:12-40"
    assert where("demo.ipynb", cells, 6, 7) == "demo.ipynb, cell 5, lines 1–2"
