"""What reaches a terminal: paths, names, reasons and artifact values come from untrusted
repositories, and a file named with an escape sequence (`\x1b]0;...`, `\x1b[2J`) or a newline
must not drive the reader's terminal or forge a line of the output."""

from __future__ import annotations


def one_line(text: str) -> str:
    """`text` safe for a terminal, on one line: characters that are not printable (controls,
    bidirectional and zero-width marks) are written as their escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
