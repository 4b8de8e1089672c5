"""Jupyter notebooks -> the Python their code cells hold, with a line map back to the cells.

Only `source` of code cells is read; outputs (images, data) are never looked at. IPython syntax
that is not Python (`%magic`, `!shell`, `obj?`) is blanked to an empty line, so line numbers in
the joined text keep pointing at the same line of the same cell.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Cell magics whose body is still Python: the body is kept, only the `%%` line is blanked.
_PYTHON_BODY_CELL_MAGICS = frozenset(
    {"time", "timeit", "capture", "prun", "python", "python3", "debug", "pypy", "cache"}
)

_HELP = re.compile(r"^\?{1,2}.*|^[A-Za-z_*][\w.*\[\]]*\?{1,2}$")  # `?obj`, `obj?`, `np.*sum*??`
_SHELL_ASSIGN = re.compile(r"^[\w\s,.()\[\]]+=\s*[!%]")  # `files = !ls`, `t = %timeit -o f()`


class NotebookError(Exception):
    """The notebook cannot be read; `reason` is shown in the skipped-file warning."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class NotebookCode:
    """A notebook's code cells as one text, and where each cell starts in it."""

    text: str
    cell_starts: tuple[int, ...]  # 1-based line in `text` where each code cell starts
    # Each code cell's place among all the notebook's cells (markdown too), 1-based: the
    # number a reader counts to when scrolling the notebook.
    cell_numbers: tuple[int, ...] = ()


def extract_code(raw: bytes) -> NotebookCode:
    """The code cells of a notebook (nbformat 3 or 4), joined with one blank line between cells."""
    try:
        nb = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise NotebookError(f"notebook is not valid JSON: {_short(exc)}") from None
    if not isinstance(nb, dict):
        raise NotebookError("notebook is not a JSON object")
    language = _language(nb)
    if language is not None and "python" not in language.lower():
        raise NotebookError(f"notebook language is {language[:40]!r}, not Python")
    lines: list[str] = []
    starts: list[int] = []
    numbers: list[int] = []
    for number, cell in enumerate(_cells(nb), start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        # nbformat 3 keeps a code cell's text under "input"; 4 under "source".
        source = cell.get("source", cell.get("input", ""))
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookError("notebook cell source is neither text nor a list of text")
        if starts:
            lines.append("")
        starts.append(len(lines) + 1)
        numbers.append(number)
        lines.extend(blank_magics(_cell_lines(source)))
    text = "\n".join(lines) + "\n" if lines else ""
    return NotebookCode(text=text, cell_starts=tuple(starts), cell_numbers=tuple(numbers))


def cell_line(
    cell_starts: Sequence[int], cell_numbers: Sequence[int], line: int
) -> tuple[int, int] | None:
    """Line `line` of the joined text as (cell number, line in that cell), both 1-based; None
    for the blank line `extract_code` puts between two cells, which is in no cell. Without
    `cell_numbers`, cells are counted among the code cells."""
    k = bisect_right(cell_starts, line)
    if k == 0:
        return None
    if k < len(cell_starts) and line == cell_starts[k] - 1:
        return None
    number = cell_numbers[k - 1] if len(cell_numbers) == len(cell_starts) else k
    return number, line - cell_starts[k - 1] + 1


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _language(nb: dict[str, Any]) -> str | None:
    meta = nb.get("metadata")
    if not isinstance(meta, dict):
        return None
    for key, field in (("kernelspec", "language"), ("language_info", "name")):
        section = meta.get(key)
        if isinstance(section, dict) and isinstance(section.get(field), str):
            value: str = section[field]
            return value
    return None


def _cells(nb: dict[str, Any]) -> list[Any]:
    cells = nb.get("cells")
    if isinstance(cells, list):
        return cells
    worksheets = nb.get("worksheets")  # nbformat 3
    if isinstance(worksheets, list):
        out: list[Any] = []
        for sheet in worksheets:
            if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list):
                out.extend(sheet["cells"])
        return out
    raise NotebookError("notebook has neither `cells` nor `worksheets`")


def _cell_lines(source: str) -> list[str]:
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    if source.endswith("\n"):
        source = source[:-1]
    return source.split("\n")


def blank_magics(lines: list[str]) -> list[str]:
    """Replace IPython-only lines with empty ones, keeping the line count.

    Only lines that start a statement are candidates, so a line of a multi-line string or a
    `% x` continuation inside brackets is left alone.
    """
    if not lines:
        return lines
    head = lines[0].strip()
    if head.startswith("%%"):
        words = head[2:].split()
        name = words[0] if words else ""
        # `%%writefile train.py` saves the cell as a Python file: the body is Python the
        # author wrote (Colab and Kaggle notebooks ship their scripts this way).
        python_file = name in ("writefile", "file") and words[-1].lower().endswith(".py")
        if name not in _PYTHON_BODY_CELL_MAGICS and not python_file:
            return [""] * len(lines)  # %%bash, %%html, %%writefile x.sh...: not Python
        lines = ["", *lines[1:]]
    out: list[str] = []
    scanner = _StatementScanner()
    for line in lines:
        if scanner.at_statement_start and _is_ipython_line(line):
            out.append("")
            continue
        out.append(line)
        scanner.feed(line)
    return out


def _is_ipython_line(line: str) -> bool:
    s = line.strip()
    if not s:
        return False
    if s[0] in "%!":
        return True
    return bool(_HELP.match(s) or _SHELL_ASSIGN.match(s))


class _StatementScanner:
    """Just enough of Python's lexer to know whether the next line starts a new statement."""

    __slots__ = ("depth", "quote", "continued")

    def __init__(self) -> None:
        self.depth = 0  # open brackets
        self.quote: str | None = None  # the delimiter of an unfinished triple-quoted string
        self.continued = False  # the previous line ended with a backslash

    @property
    def at_statement_start(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued

    def feed(self, line: str) -> None:
        i, n = 0, len(line)
        self.continued = False
        while i < n:
            if self.quote is not None:
                if line[i] == "\\":
                    i += 2
                elif line.startswith(self.quote, i):
                    i += 3
                    self.quote = None
                else:
                    i += 1
                continue
            ch = line[i]
            if ch == "#":
                return
            if ch in "([{":
                self.depth += 1
            elif ch in ")]}":
                self.depth = max(0, self.depth - 1)
            elif ch in "'\"":
                if line.startswith(ch * 3, i):
                    self.quote = ch * 3
                    i += 3
                    continue
                i = self._skip_short_string(line, i + 1, ch)
                continue
            i += 1
        self.continued = self.quote is None and line.endswith("\\")

    @staticmethod
    def _skip_short_string(line: str, i: int, ch: str) -> int:
        n = len(line)
        while i < n:
            if line[i] == "\\":
                i += 2
            elif line[i] == ch:
                return i + 1
            else:
                i += 1
        return n
