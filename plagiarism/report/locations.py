"""Where a unit or a line is, as a reader finds it: a line of a Python file, or a line of a
notebook's cell. The engine numbers a notebook's lines in the text of its code cells joined
(see `plagiarism.notebooks`), which no notebook viewer shows; reports translate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from plagiarism.model import Result
from plagiarism.notebooks import cell_line


@dataclass(frozen=True, slots=True)
class CellMap:
    """A notebook's code cells: where each starts in the joined text, which cell it is."""

    starts: tuple[int, ...]
    numbers: tuple[int, ...]

    def at(self, line: int) -> tuple[int, int] | None:
        return cell_line(self.starts, self.numbers, line)


# File SHA-256 -> its cell map; notebooks only.
Cells = Mapping[str, CellMap]


def cells_of(result: Result) -> dict[str, CellMap]:
    return {
        f.sha256: CellMap(f.cell_starts, f.cell_numbers)
        for f in (*result.files_a, *result.files_b)
        if f.cell_starts
    }


def line_label(cells: CellMap | None, line: int) -> str:
    """A line number as a gutter shows it: `14`, or `3:2` (cell 3, its line 2) in a notebook,
    or nothing for the blank line between two cells."""
    if cells is None:
        return str(line)
    at = cells.at(line)
    return "" if at is None else f"{at[0]}:{at[1]}"


def span(cells: CellMap | None, start: int, end: int, dash: str = "–") -> str:
    """Lines start..end: `12–40`, or in a notebook `cell 3, lines 1–7` or
    `cell 3 line 4 – cell 5 line 2`."""
    if cells is None:
        return f"{start}{dash}{end}"
    # A range that starts or ends on the blank line between two cells is read from the
    # cell's side of it.
    first = cells.at(start) or cells.at(start + 1)
    last = cells.at(end) or cells.at(end - 1)
    if first is None or last is None:  # no code line in the range
        return f"lines {start}{dash}{end} of the joined code cells"
    if first[0] == last[0]:
        if first[1] == last[1]:
            return f"cell {first[0]}, line {first[1]}"
        return f"cell {first[0]}, lines {first[1]}{dash}{last[1]}"
    return f"cell {first[0]} line {first[1]} {dash} cell {last[0]} line {last[1]}"


def where(path: str, cells: CellMap | None, start: int, end: int, dash: str = "–") -> str:
    """`model.py:12–40`, or `demo.ipynb, cell 3, lines 1–7`."""
    if cells is None:
        return f"{path}:{span(cells, start, end, dash)}"
    return f"{path}, {span(cells, start, end, dash)}"
