"""Running git on repositories we do not trust, and the cache of clones and trees.

Every call goes through `run`, which switches off everything in git that can execute code
chosen by a repository or its configuration: hooks, fsmonitor, filter drivers (LFS included),
submodule recursion and unusual transports. Nothing is ever checked out by git: a revision is
materialised by copying blobs out of the object database ourselves (`materialise`), so no
`.gitattributes` rule (filters, `export-ignore`, `working-tree-encoding`) can change or hide
what we read.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

from plagiarism.errors import SourceError

log = logging.getLogger(__name__)

# Local commands (rev-parse, ls-files, status) on a very large work tree stay well under this.
LOCAL_TIMEOUT = 600.0
# A full clone of a multi-gigabyte repository over a slow link; past this we give up.
NETWORK_TIMEOUT = 3600.0

_ALLOWED_PROTOCOLS = ("https", "http", "ssh", "git", "file")

# Passed as `-c` so they win over every config file, including a hostile `.git/config`.
_SAFE_CONFIG: tuple[str, ...] = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.pager=cat",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "protocol.allow=never",
    *(f"protocol.{p}.allow=always" for p in _ALLOWED_PROTOCOLS),
    "filter.lfs.smudge=",
    "filter.lfs.clean=",
    "filter.lfs.process=",
    "filter.lfs.required=false",
    "log.showSignature=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "advice.detachedHead=false",
)

# Variables that would point git at another repository or work tree than the one we name.
_STRIPPED_ENV = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_PREFIX",
        "GIT_EXTERNAL_DIFF",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
    }
)


# Git LFS commits a small text pointer in place of each file it keeps outside the repository
# (model weights, large tokenizers, sometimes code); we never run LFS to fetch them.
LFS_POINTER_MAX_BYTES = 1024
_LFS_POINTER_PREFIXES = (
    b"version https://git-lfs.github.com/spec/",
    b"version https://hawser.github.com/spec/",  # the format's first name
)


def is_lfs_pointer(head: bytes) -> bool:
    """Whether a file's first bytes are a Git LFS pointer (the content is not in the repo)."""
    return head.startswith(_LFS_POINTER_PREFIXES)


class GitFailed(Exception):
    """A git command exited non-zero or timed out; `detail` is its most useful stderr line."""

    def __init__(self, args: Sequence[str], detail: str) -> None:
        super().__init__(f"git {' '.join(args[:2])}: {detail}")
        self.detail = detail


class MissingObject(GitFailed):
    """An object the repository names but does not hold (a partial or damaged clone)."""


class GitStopped(GitFailed):
    """git stopped because its `watch` said so (a clone past its size cap): not a failure of
    the network or the server, which a caller may work around with the copy it has."""


def git_executable() -> str:
    exe = shutil.which("git")
    if exe is None:
        raise SourceError("git is not installed (not found on PATH); it is needed for git sources")
    return exe


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_LFS_SKIP_SMUDGE="1",
        GIT_PAGER="cat",
        PAGER="cat",
        GIT_OPTIONAL_LOCKS="0",  # `git status` must not rewrite the index of the user's repo
        LC_ALL="C",  # stderr is parsed for the one-line error message
    )
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        # A passphrase or host-key prompt would hang the run; fail instead.
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    return env


# Generic lines git prints after the specific cause; they never say what went wrong.
_BOILERPLATE = (
    "Could not read from remote repository.",
    "Please make sure you have the correct access rights",
    "and the repository exists.",
)


def last_meaningful_line(stderr: str) -> str:
    """The line of git's stderr that says what went wrong, without git's `fatal: ` prefix."""
    lines = [_printable(line).strip() for line in stderr.splitlines()]
    lines = [
        line
        for line in lines
        if line
        and not line.startswith(("hint:", "Cloning into"))
        and not line.endswith(_BOILERPLATE)
    ]
    for prefix in ("fatal:", "error:", "ERROR:"):
        tagged = [line for line in lines if line.startswith(prefix)]
        if tagged:
            return tagged[-1][len(prefix) :].strip()
    return lines[-1] if lines else "git failed without a message"


def _printable(text: str) -> str:
    # Remote servers can send escape sequences in `remote:` lines; they must not reach a terminal.
    return "".join(ch if ch.isprintable() else " " for ch in text)


def run(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float = LOCAL_TIMEOUT,
    config: Sequence[str] = (),
    check: bool = True,
    watch: Callable[[], str | None] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run git with the safety switches on; raise GitFailed on failure when `check`. `watch`
    is asked every half second while git runs, and once after: a reason to stop it (a clone
    past its size cap) ends the run as a failure with that reason."""
    cmd = [git_executable()]
    for item in (*_SAFE_CONFIG, *config):
        cmd += ["-c", item]
    cmd += list(args)
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
            start_new_session=True,  # so a timeout can stop git's helpers too
        )
    except OSError as exc:
        raise SourceError(f"cannot run git: {exc.strerror or exc}") from exc
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        wait = min(left, _WATCH_EVERY) if watch else left
        try:
            out, err = proc.communicate(timeout=max(0.0, wait))
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                _kill_group(proc)
                raise GitFailed(args, f"timed out after {timeout:g} s") from None
            stop = watch() if watch else None
            if stop is not None:
                _kill_group(proc)
                raise GitStopped(args, stop) from None
    stop = watch() if watch else None
    if stop is not None:
        raise GitStopped(args, stop)
    result = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if check and proc.returncode != 0:
        raise GitFailed(args, last_meaningful_line(err.decode("utf-8", "replace")))
    return result


_WATCH_EVERY = 0.5  # seconds between two looks at a running clone


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def git_lines(args: Sequence[str]) -> list[str]:
    """NUL-separated output (`-z`) as a list of paths; names that are not UTF-8 keep surrogates."""
    out = run(args).stdout
    return [os.fsdecode(item) for item in out.split(b"\0") if item]


# --- commits ----------------------------------------------------------------------------------


def rev_parse(git_args: Sequence[str], rev: str) -> str | None:
    """Full SHA of the commit `rev` names, or None. `rev` never starts with '-' (checked)."""
    proc = run([*git_args, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], check=False)
    if proc.returncode != 0:
        return None
    sha = proc.stdout.decode("ascii", "replace").strip()
    return sha or None


def has_commit(git_args: Sequence[str], sha: str) -> bool:
    proc = run([*git_args, "cat-file", "-e", f"{sha}^{{commit}}"], check=False)
    return proc.returncode == 0


def commit_date(git_args: Sequence[str], sha: str) -> str | None:
    """ISO 8601 committer date, read from the raw commit so no config (signatures) is involved."""
    proc = run([*git_args, "cat-file", "commit", sha], check=False)
    if proc.returncode != 0:
        return None
    for line in proc.stdout.split(b"\n"):
        if not line:
            break  # end of the header
        if line.startswith(b"committer "):
            return _parse_git_date(line.decode("utf-8", "replace"))
    return None


def _parse_git_date(committer_line: str) -> str | None:
    parts = committer_line.rsplit(" ", 2)
    if len(parts) != 3:
        return None
    _, stamp, offset = parts
    try:
        seconds = int(stamp)
        sign = -1 if offset.startswith("-") else 1
        hours, minutes = int(offset[1:3]), int(offset[3:5])
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        return datetime.fromtimestamp(seconds, tz).isoformat()
    except (ValueError, OverflowError, OSError):
        return None


# --- the user's own checkout -----------------------------------------------------------------


def worktree_args(root: Path) -> list[str]:
    # Naming both explicitly means a `core.worktree` in a hostile .git/config cannot move us.
    return [f"--git-dir={root / '.git'}", f"--work-tree={root}"]


def filter_overrides(git_args: Sequence[str]) -> list[str] | None:
    """`-c` items that blank every filter driver configured anywhere, or None if we cannot.

    `git status` may run a clean filter on files whose stat data changed; the driver names
    come from config we do not trust, so each one is neutralised by name.
    """
    proc = run([*git_args, "config", "--name-only", "--get-regexp", r"^filter\."], check=False)
    names: set[str] = set()
    for key in proc.stdout.decode("utf-8", "replace").splitlines():
        head, _, _ = key.rpartition(".")
        name = head[len("filter.") :]
        if "=" in name or not name:
            return None  # cannot be expressed as `-c`; the caller skips the command
        names.add(name)
    out: list[str] = []
    for name in sorted(names):
        out += [f"filter.{name}.{k}=" for k in ("clean", "smudge", "process")]
        out.append(f"filter.{name}.required=false")
    return out


def worktree_dirty(root: Path) -> bool:
    args = worktree_args(root)
    overrides = filter_overrides(args)
    if overrides is None:
        log.warning(
            "%s: unusual filter configuration; not running git status, assuming dirty", root
        )
        return True
    out = run(
        [*args, "status", "--porcelain", "-z", "--ignore-submodules=all"], config=overrides
    ).stdout
    return bool(out.strip(b"\0"))


def worktree_files(root: Path) -> list[str]:
    """Tracked plus untracked-but-not-ignored paths, relative to root."""
    return git_lines([*worktree_args(root), "ls-files", "-c", "-o", "--exclude-standard", "-z"])


def head_files(root: Path) -> list[str]:
    """The paths of the checkout's HEAD commit (none without one). Read from the commit's
    tree: nothing of the work tree is hashed, so no filter of its config can run."""
    try:
        return git_lines([*worktree_args(root), "ls-tree", "-r", "--name-only", "-z", "HEAD"])
    except GitFailed:
        return []


# --- the clone cache -----------------------------------------------------------------------------


def cache_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def clone_path(cache_dir: Path, url: str) -> Path:
    return cache_dir / "clones" / f"{cache_key(url)}.git"


def ensure_clone(url: str, cache_dir: Path, max_bytes: int | None = None) -> tuple[Path, bool]:
    """The cached clone of `url` (a bare git dir with `origin/*` branches), and whether it is new.

    Full history on purpose: provenance features walk it later. A clone that grows past
    `max_bytes` on disk is stopped and removed: a repository (or a hostile server) can hold
    more history than the disk.
    """
    dest = clone_path(cache_dir, url)
    if (dest / "HEAD").is_file():
        return dest, False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.stem}.", suffix=".tmp", dir=dest.parent))
    try:
        work = tmp / "clone"
        # --no-checkout: git never writes a file of the repository; we materialise trees ourselves.
        run(
            ["clone", "--no-checkout", "--no-recurse-submodules", "--quiet", "--", url, str(work)],
            timeout=NETWORK_TIMEOUT,
            watch=_size_watch(tmp, max_bytes),
        )
        gitdir = work / ".git"
        run([f"--git-dir={gitdir}", "config", "core.bare", "true"])
        try:
            os.rename(gitdir, dest)
        except OSError:
            if not (dest / "HEAD").is_file():
                raise
            log.debug("another run cloned %s first; using its copy", url)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("cloned %s into %s", url, dest)
    return dest, True


def _too_big(folder: Path, max_bytes: int) -> str | None:
    size = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            try:
                size += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue  # git renames its temporary packs as it goes
    if size <= max_bytes:
        return None
    return (
        f"the clone passed {size / 2**20:,.0f} MiB, over the {max_bytes / 2**20:,.0f} MiB limit "
        "(--max-clone-size); a local checkout of the revision avoids cloning its history"
    )


def fetch(gitdir: Path, max_bytes: int | None = None) -> None:
    """Bring branches, tags and the remote's default branch up to date. A clone that the
    fetch takes past `max_bytes` is removed (`GitStopped`), as a first clone would be."""
    args = [f"--git-dir={gitdir}"]
    with _removed_when_stopped(gitdir):
        run(
            [*args, "fetch", "--quiet", "--prune", "--tags", "--force", "--no-recurse-submodules"]
            + ["origin"],
            timeout=NETWORK_TIMEOUT,
            watch=_size_watch(gitdir, max_bytes),
        )
    # The default branch can change upstream; failure here only means we keep the old one.
    run([*args, "remote", "set-head", "origin", "--auto"], timeout=NETWORK_TIMEOUT, check=False)


def fetch_one(gitdir: Path, ref: str, max_bytes: int | None = None) -> str | None:
    """Fetch a single commit or ref that no branch or tag points at (e.g. a pull request);
    None when the remote has no such thing. Size-capped as `fetch`."""
    args = [f"--git-dir={gitdir}"]
    with _removed_when_stopped(gitdir):
        proc = run(
            [*args, "fetch", "--quiet", "--no-recurse-submodules", "origin", ref],
            timeout=NETWORK_TIMEOUT,
            check=False,
            watch=_size_watch(gitdir, max_bytes),
        )
    if proc.returncode != 0:
        return None
    return rev_parse(args, "FETCH_HEAD")


def _size_watch(folder: Path, max_bytes: int | None) -> Callable[[], str | None] | None:
    return None if max_bytes is None else functools.partial(_too_big, folder, max_bytes)


@contextlib.contextmanager
def _removed_when_stopped(gitdir: Path) -> Iterator[None]:
    # A local fetch can finish between two looks at its size: its refs have moved by then,
    # so the clone over the cap cannot be rolled back, only removed (the next run clones
    # again, capped).
    try:
        yield
    except GitStopped:
        shutil.rmtree(gitdir, ignore_errors=True)
        raise


# --- materialising a tree ------------------------------------------------------------------


def materialise(gitdir: Path, commit: str, cache_dir: Path) -> Path:
    """The files of `commit` as a plain folder, `cache_dir/trees/<commit>`, built once.

    Built in a temporary folder and renamed into place, so a crash never leaves a partial tree
    under the final name.
    """
    dest = cache_dir / "trees" / commit
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{commit}.", suffix=".tmp", dir=dest.parent))
    try:
        missing = _write_tree(gitdir, commit, tmp)
        # Beside the tree, written before it is renamed into place: a tree is never found
        # without the list of what it lacks.
        listed = _missing_list(dest)
        if missing:
            # NUL-separated: a git path may hold a newline, never a NUL.
            listed.write_bytes(b"\0".join(os.fsencode(p) for p in missing))
        else:
            listed.unlink(missing_ok=True)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not dest.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def missing_from(tree: Path) -> list[str]:
    """The paths of a materialised tree whose objects the repository did not hold."""
    try:
        data = _missing_list(tree).read_bytes()
    except FileNotFoundError:
        return []
    return [os.fsdecode(p) for p in data.split(b"\0") if p]


def _missing_list(tree: Path) -> Path:
    return tree.parent / f"{tree.name}.missing"


def _safe_relpath(path: str) -> bool:
    parts = path.split("/")
    return all(p not in ("", ".", "..") and p.lower() != ".git" for p in parts)


def _write_tree(gitdir: Path, commit: str, dest: Path) -> list[str]:
    """Write the files of `commit` under `dest`; the paths whose objects are missing."""
    out = run([f"--git-dir={gitdir}", "ls-tree", "-r", "-z", "--full-tree", commit]).stdout
    files: list[tuple[str, str, str]] = []  # mode, sha, path
    links: list[tuple[str, str]] = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        mode, kind, sha = meta.decode("ascii", "replace").split(" ")
        path = os.fsdecode(raw_path)
        if kind != "blob":
            continue  # a submodule (gitlink): never fetched
        if not _safe_relpath(path):
            log.warning("commit %s: refusing the unsafe path %r", commit, path)
            continue
        if mode == "120000":
            links.append((sha, path))
        else:
            files.append((mode, sha, path))
    deadline = time.monotonic() + NETWORK_TIMEOUT
    missing: list[str] = []
    # Symlinks last: while regular files are written no parent folder can be a symlink.
    with _BlobReader(gitdir) as blobs:
        for mode, sha, path in files:
            target = dest / path
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(
                    target,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                    0o755 if mode == "100755" else 0o644,
                )
            except OSError as exc:
                log.warning("commit %s: cannot write %r: %s", commit, path, exc)
                continue
            try:
                with os.fdopen(fd, "wb") as fh:
                    blobs.copy(sha, fh)
            except MissingObject:
                missing.append(path)
                target.unlink()
            if time.monotonic() > deadline:
                raise GitFailed(["cat-file"], f"timed out after {NETWORK_TIMEOUT:g} s")
        for sha, path in links:
            target = dest / path
            try:
                link_to = os.fsdecode(blobs.read_small(sha))
            except MissingObject:
                missing.append(path)
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(link_to, target)
            except OSError as exc:
                log.warning("commit %s: cannot create symlink %r: %s", commit, path, exc)
    return missing


class _BlobReader:
    """One `git cat-file --batch` process; blobs are streamed, never held whole in memory."""

    _CHUNK = 1 << 20

    def __init__(self, gitdir: Path) -> None:
        self._gitdir = gitdir
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _BlobReader:
        cmd = [git_executable()]
        for item in _SAFE_CONFIG:
            cmd += ["-c", item]
        cmd += [f"--git-dir={self._gitdir}", "cat-file", "--batch"]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_env(),
            start_new_session=True,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is None:
            return
        assert proc.stdin is not None
        try:
            proc.stdin.close()
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            _kill_group(proc)

    def _request(self, sha: str) -> int:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(sha.encode("ascii") + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        if header[1:] == [b"missing"]:  # nothing follows: the stream stays in step
            raise MissingObject(["cat-file"], f"object {sha} is missing from the repository")
        if len(header) != 3:
            raise GitFailed(["cat-file"], f"unexpected answer for object {sha}: {header!r}")
        return int(header[2])

    def copy(self, sha: str, fh: _Writer) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        remaining = self._request(sha)
        write = fh.write
        while remaining:
            chunk = proc.stdout.read(min(remaining, self._CHUNK))
            if not chunk:
                raise GitFailed(["cat-file"], "git cat-file stopped early")
            write(chunk)
            remaining -= len(chunk)
        proc.stdout.read(1)  # the newline after each object

    def read_small(self, sha: str) -> bytes:
        sink = _BytesWriter()
        self.copy(sha, sink)
        return sink.data


class _Writer(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _BytesWriter:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)
