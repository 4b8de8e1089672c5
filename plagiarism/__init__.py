"""plagiarism: find code copied between machine-learning repositories, renamed or not."""

__version__ = "0.1.0"

from plagiarism.config import Settings
from plagiarism.errors import PlagiarismError
from plagiarism.pipeline import compare

__all__ = ["Settings", "PlagiarismError", "compare", "__version__"]
