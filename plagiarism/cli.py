"""The command line: parse flags, call the library, print, choose the exit code.

Exit codes, like linters: 0 nothing over the threshold, 1 a finding, 2 a usage or input
error with a one-line message. `[tool.plagiarism]` in ./pyproject.toml feeds click's
default_map, so the config file and the flags share their names.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from plagiarism import __version__
from plagiarism.config import Settings
from plagiarism.errors import PlagiarismError, UsageError
from plagiarism.progress import Timed
from plagiarism.report.terminal import one_line

if TYPE_CHECKING:
    from plagiarism.model import Result

log = logging.getLogger("plagiarism.cli")

EXIT_CLEAN, EXIT_FINDING, EXIT_ERROR = 0, 1, 2
# Not 1: a crash must never read as a finding to a script or a hook.
EXIT_INTERNAL, EXIT_INTERRUPTED = 3, 130


class StderrProgress:
    """One redrawn line on stderr while a terminal watches; nothing otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.name = ""
        self.total: int | None = None
        self.count = 0

    def stage(self, name: str, total: int | None = None) -> None:
        self.name, self.total, self.count = name, total, 0
        self._draw()

    def advance(self, n: int = 1) -> None:
        self.count += n
        if self.total is None or self.count == self.total or self.count % 50 == 0:
            self._draw()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()

    def _draw(self) -> None:
        if not self.enabled:
            return
        if self.total:
            width = 30
            filled = int(width * self.count / max(1, self.total))
            bar = "#" * filled + "-" * (width - filled)
            text = f"{self.name:<12} [{bar}] {self.count}/{self.total}"
        else:
            text = f"{self.name} ..."
        sys.stderr.write("\r\x1b[2K" + text)
        sys.stderr.flush()


def _config_defaults() -> dict[str, Any]:
    path = Path("pyproject.toml")
    if not path.is_file():
        return {}
    import tomllib  # here: most runs have no pyproject.toml to read, and it costs ~5 ms

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    section = data.get("tool", {}).get("plagiarism", {})
    if not isinstance(section, dict):
        return {}
    # Keys are the flag names (`threshold`, `max-file-size`), never internal field names.
    by_flag = {flag.replace("-", "_"): name for flag, name in _long_flags()}
    values = {}
    for key, value in section.items():
        name = by_flag.get(key.replace("-", "_"))
        if name is None:
            raise click.UsageError(f"pyproject.toml [tool.plagiarism]: unknown key {key!r}")
        values[name] = value
    return {"compare": values}


def _long_flags() -> list[tuple[str, str]]:
    """(flag without its dashes, setting) for each long option of `compare`, in order."""
    return [
        (opt[2:], param.name)
        for param in compare.params
        if param.name
        for opt in getattr(param, "opts", ())
        if opt.startswith("--")
    ]


def _write_html(result: Result, path: Path, quiet: bool, jobs: int = 0) -> None:
    from plagiarism.executor import make_executor, owned
    from plagiarism.report.html import write_html

    progress = Timed(StderrProgress(enabled=not quiet and sys.stderr.isatty()))
    # The further pages on every core: painting a transformers-sized report's 40,000 pairs
    # is longer than the comparison. Here, never on a --scheduler's cluster: the pages are
    # files on this machine.
    with owned(make_executor(jobs)) as executor:
        written = write_html(result, path, progress=progress, executor=executor)
    if len(written) > 1:
        click.echo(f"wrote {len(written)} pages: {path} and the pages next to it", err=True)


class _OneLineFormatter(logging.Formatter):
    """Log lines name files of untrusted repositories: written as `terminal.one_line` writes the
    summary, so no file name drives the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


def _tell_config(spec_a: str, spec_b: str) -> None:
    """Say which settings came from ./pyproject.toml: a reviewer who runs the comparison from
    inside a repository being compared would otherwise let it choose its own threshold or
    exclusions without a word (the result records the values, not where they came from)."""
    values = (click.get_current_context().find_root().default_map or {}).get("compare") or {}
    if not values:
        return
    flag_of: dict[str, str] = {}
    for flag, name in _long_flags():
        flag_of.setdefault(name, flag)  # the first spelling, as the help lists it
    shown = ", ".join(f"{flag_of.get(k, k)}={v!r}" for k, v in sorted(values.items()))
    inside = [
        label
        for label, spec in (("SOURCE_A (the original)", spec_a), ("SOURCE_B (the suspect)", spec_b))
        if Path(spec).expanduser().is_dir()
        and Path.cwd().resolve().is_relative_to(Path(spec).expanduser().resolve())
    ]
    where = (
        f"; this folder is inside {' and '.join(inside)}, so that repository chose them "
        "(run from another folder to leave them out)"
        if inside
        else ""
    )
    log.warning("settings from ./pyproject.toml [tool.plagiarism]: %s%s", shown, where)


def _outputs_writable(*paths: Path | None) -> None:
    """Make the folders the results go to, before any work: a full-size comparison takes a
    minute, and a missing or read-only folder must not be found out at its end."""
    for path in paths:
        if path is None:
            continue
        folder = path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UsageError(f"cannot write {path}: folder {folder} is not writable")


def _fail(exc: PlagiarismError | OSError) -> NoReturn:
    """One line on stderr and exit 2: input the user can fix is never a traceback."""
    if isinstance(exc, OSError):
        message = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    else:
        message = str(exc)
    click.echo(f"error: {one_line(message)}", err=True)
    sys.exit(EXIT_ERROR)


def _finish(result: Result, top: int, quiet: bool) -> NoReturn:
    from plagiarism.report import text

    if not quiet:
        click.echo(text.render(result, top=top))
    sys.exit(EXIT_FINDING if result.finding else EXIT_CLEAN)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="plagiarism")
@click.option("-v", "--verbose", is_flag=True, help="Log what the stages do (to stderr).")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Find code copied between machine-learning repositories, even when renamed."""
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormatter("%(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    ctx.default_map = ctx.default_map or _config_defaults()
    # One command per process, and its big structures (a result of 100k records, its JSON)
    # hold no cycles: cyclic collection would only walk them again and again.
    gc.disable()


@main.command()
@click.argument("source_a")
@click.argument("source_b")
@click.option("--rev-a", help="Branch, tag or commit of SOURCE_A (or write SOURCE_A@REV).")
@click.option("--rev-b", help="Branch, tag or commit of SOURCE_B (or write SOURCE_B@REV).")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where clones and caches live (default: $XDG_CACHE_HOME/plagiarism).",
)
@click.option(
    "--no-cache",
    "use_cache",
    flag_value=False,
    default=None,
    help="Neither read nor write the per-file analysis cache (clones are still cached).",
)
@click.option(
    "--cache-max-bytes",
    type=int,
    help="Size limit of the cache: analyses and the shape store (default 4 GiB).",
)
@click.option(
    "--no-gitignore",
    "use_gitignore",
    flag_value=False,
    default=None,
    help="Read files a .gitignore in a plain folder or checkout leaves out (counted otherwise).",
)
@click.option("--include", multiple=True, help="Only files matching this glob (repeatable).")
@click.option("--exclude", multiple=True, help="Skip files matching this glob (repeatable).")
@click.option(
    "--max-clone-size",
    "max_clone_bytes",
    type=int,
    help="Stop a git clone past this many bytes on disk (default 20 GiB).",
)
@click.option(
    "--max-file-size",
    "max_file_bytes",
    type=int,
    help="Skip source files larger than this many bytes (default 2000000).",
)
@click.option(
    "--threshold",
    "pair_threshold",
    type=float,
    help="Report a pair when this share of the suspect's unit is matched (default 0.6).",
)
@click.option("--min-match", type=int, help="Shortest matched run, in tokens (default 12).")
@click.option(
    "--min-unit-tokens", type=int, help="Do not report units shorter than this (default 30)."
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--jobs",
    type=int,
    help="Worker processes for per-file work (0: all cores; never more than the cores usable).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run per-file work on this Dask scheduler (tcp://host:8786); needs plagiarism[dask].",
)
@click.option("--quiet", "-q", is_flag=True, default=None, help="No progress bar, no summary.")
@click.option("--top", type=int, default=15, show_default=True, help="Pairs in the summary.")
@click.option("--model-a", type=click.Path(path_type=Path), help="Model folder of A.")
@click.option("--model-b", type=click.Path(path_type=Path), help="Model folder of B.")
@click.option(
    "--base-tokenizer",
    type=click.Path(path_type=Path),
    help="Tokenizer both sides may share honestly (its special tokens are not evidence).",
)
def compare(
    source_a: str,
    source_b: str,
    json_path: Path | None,
    html_path: Path | None,
    top: int,
    model_a: Path | None,
    model_b: Path | None,
    base_tokenizer: Path | None,
    scheduler: str | None,
    **flags: Any,
) -> None:
    """Compare SOURCE_B (the suspect) against SOURCE_A (the original).

    Each SOURCE is a git URL, a local git checkout or a plain folder. The similarity is the
    share of B's code that A explains.
    """
    from plagiarism import sources
    from plagiarism.executor import make_executor
    from plagiarism.pipeline import compare as run_compare
    from plagiarism.report import json_format

    try:
        spec_a, rev_a = sources.split_rev(source_a)
        spec_b, rev_b = sources.split_rev(source_b)
        if rev_a and flags.get("rev_a"):
            raise UsageError("give the revision of A once: either SOURCE_A@REV or --rev-a")
        if rev_b and flags.get("rev_b"):
            raise UsageError("give the revision of B once: either SOURCE_B@REV or --rev-b")
        flags["rev_a"] = flags.get("rev_a") or rev_a
        flags["rev_b"] = flags.get("rev_b") or rev_b
        _tell_config(spec_a, spec_b)
        _outputs_writable(json_path, html_path)
        quiet = bool(flags.get("quiet"))
        settings = Settings().with_overrides(**flags)
        progress = StderrProgress(enabled=not quiet and sys.stderr.isatty())
        executor = make_executor(settings.jobs, scheduler) if scheduler else None
        try:
            result = run_compare(
                spec_a,
                spec_b,
                settings,
                progress,
                executor,
                model_a=model_a,
                model_b=model_b,
                base_tokenizer=base_tokenizer,
            )
        finally:
            if executor is not None:
                executor.close()
        if json_path is not None:
            json_format.write(result, json_path)
        if html_path is not None:
            _write_html(result, html_path, quiet, settings.jobs)
    except (PlagiarismError, OSError) as exc:
        _fail(exc)
    _finish(result, top, quiet)


@main.command()
@click.argument("result_json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--top", type=int, default=15, show_default=True)
def report(result_json: Path, html_path: Path | None, top: int) -> None:
    """Show a saved JSON result again (and render it as HTML with --html)."""
    from plagiarism.report import json_format

    try:
        _outputs_writable(html_path)
        result = json_format.read(result_json)
        if html_path is not None:
            _write_html(result, html_path, quiet=False)
    except (PlagiarismError, OSError) as exc:
        _fail(exc)
    _finish(result, top, quiet=False)


# glibc's mallopt parameters (malloc.h) and the values this program runs with.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_ALLOCATOR = ((_M_MMAP_THRESHOLD, 256 << 20), (_M_TRIM_THRESHOLD, 1 << 30), (_M_TOP_PAD, 64 << 20))


def _keep_freed_memory() -> None:
    """Let glibc keep freed memory for reuse instead of handing it back to the kernel.

    A comparison allocates and frees numpy arrays and token tuples by the million; by
    default every block over ~128 kB is a fresh mmap and the top of the heap is returned as
    soon as it is free, so the same memory is faulted in again and again (a third of the
    page faults of a 100-file run, ~0.07 s of its 1.2 s). Set before any work, so the
    worker processes forked later inherit it. Elsewhere than glibc this does nothing.
    """
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    for param, value in _ALLOCATOR:
        mallopt(param, value)


def exit_code(entry: Callable[[], object]) -> int:
    """Run the CLI and say how it ended. Errors the user can fix end in `_fail` (exit 2);
    anything else is a bug, told in one line with exit 3 (the traceback with -v), never
    Python's exit 1, which a script or a pre-commit hook would read as a finding."""
    try:
        entry()
        return EXIT_CLEAN
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or EXIT_CLEAN
        print(exc.code, file=sys.stderr)  # `sys.exit("message")`
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if logging.getLogger("plagiarism").isEnabledFor(logging.INFO):
            traceback.print_exc()
        print(
            f"internal error: {type(exc).__name__}: {exc} (a bug: please report it; -v shows "
            "where it happened)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def invoke(args: list[str] | None = None) -> None:
    """`main` on `args` (default: the command line), with click's own handling of Ctrl-C
    off: click says "Aborted!" and exits 1, which a script or a pre-commit hook reads as a
    finding; here it reaches `exit_code` as the interruption it is. Usage errors are shown
    and exit 2 as click would."""
    try:
        code = main.main(args, standalone_mode=False)
    except click.exceptions.Abort as exc:  # Ctrl-C (or end of input), as click re-raises it
        raise KeyboardInterrupt from exc
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    if isinstance(code, int):  # --help and --version end in click's Exit, returned here
        sys.exit(code)


def run() -> NoReturn:
    """The console entry point: `invoke`, then an exit that skips tearing down the heap.

    A comparison leaves millions of objects behind; freeing them one by one at interpreter
    exit took 0.2 s of a 9 s transformers-sized run, for nothing. Every file is written and
    closed, and the pool shut down, before `main` returns; the standard streams are flushed
    here. (Tests call `main` itself, which exits normally.)
    """
    _keep_freed_memory()
    code = exit_code(invoke)
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)  # a profiler or coverage writes its data at a normal exit
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing left to say
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
