"""plagiarism: find code copied between machine-learning repositories, renamed or not.

`plagiarism.compare(a, b, settings)` is the library's front door; it is imported lazily so
that `import plagiarism.model` (formatters, other tools reading results) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from plagiarism.config import Settings
    from plagiarism.errors import PlagiarismError
    from plagiarism.pipeline import compare

__all__ = ["Settings", "PlagiarismError", "compare", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "compare":
        from plagiarism.pipeline import compare

        return compare
    if name == "Settings":
        from plagiarism.config import Settings

        return Settings
    if name == "PlagiarismError":
        from plagiarism.errors import PlagiarismError

        return PlagiarismError
    raise AttributeError(name)
