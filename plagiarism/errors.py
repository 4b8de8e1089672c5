"""Errors the library raises. The CLI turns each into one line and exit code 2."""


class PlagiarismError(Exception):
    """Base class: anything the user can fix by changing the input or the flags."""


class SourceError(PlagiarismError):
    """A source could not be cloned, found, or read (bad URL, missing revision, not a repo)."""


class UsageError(PlagiarismError):
    """Flags or settings that do not fit together."""


class ResultFormatError(PlagiarismError):
    """A saved JSON result that cannot be read back (wrong schema, not JSON)."""


class ArtifactError(PlagiarismError):
    """A tokenizer, config or checkpoint that cannot be read (truncated, corrupt, too large)."""


class WorkerError(PlagiarismError):
    """A worker process died mid-run (out of memory, or killed): run again with fewer jobs."""
