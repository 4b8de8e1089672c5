"""What the user typed (git URL, checkout, folder) -> a folder on disk -> the files to compare.

`resolve` finds or builds the folder holding the wanted revision; `read_files` lists the
Python files and notebooks in it, honouring `.gitignore` and the include/exclude globs, and
reads them defensively: whatever cannot be read becomes a skipped-file Warning, never a crash.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from plagiarism import git
from plagiarism.config import Settings
from plagiarism.errors import SourceError, UsageError
from plagiarism.model import FileKind, Side, Source, SourceFile, SourceKind, Warning
from plagiarism.notebooks import NotebookError, extract_code

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

log = logging.getLogger(__name__)

# Beyond this many candidate files a source is not a project but a dump (site-packages, data);
# reading on would only exhaust memory. Settings has no knob for it on purpose.
MAX_FILES = 200_000
_BINARY_PROBE = 8192  # like git: a NUL byte in the first 8 KiB means binary
_MAX_GITIGNORE_BYTES = 1_000_000
_SUFFIXES: dict[str, FileKind] = {".py": "python", ".ipynb": "notebook"}

_URL_SCHEMES = ("https://", "http://", "ssh://", "git://", "file://", "git+ssh://", "ssh+git://")
_SCP_LIKE = re.compile(r"^[\w.+-]+@[\w.-]+:[^/\\].*|^[\w.+-]+@[\w.-]+:/.+")  # user@host:org/repo
# `host:org/repo` (the user from ssh's config): git reads a colon before any slash as this
# form. A host of two characters at least: `C:` is no host.
_SCP_NO_USER = re.compile(r"^[\w-][\w.-]+:(?!//)[^:].*")
_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


# --- what the user typed ----------------------------------------------------


def split_rev(spec: str) -> tuple[str, str | None]:
    """'URL@REV' -> (URL, REV).

    Only split at the last '@' when the tail has no '/' or ':' and the spec is not an existing
    local path; `git@host:org/repo.git` has no rev; `git@host:org/repo.git@v1` has rev v1.
    """
    head, at, tail = spec.rpartition("@")
    if not at or not head or not tail or "/" in tail or ":" in tail:
        return spec, None
    if os.path.lexists(os.path.expanduser(spec)):
        return spec, None
    return head, tail


def _looks_like_url(spec: str) -> bool:
    return (
        spec.lower().startswith(_URL_SCHEMES)
        or bool(_SCP_LIKE.match(spec))
        or bool(_SCP_NO_USER.match(spec))
    )


def _is_bare_repo(path: Path) -> bool:
    # Judged from the layout alone: running git inside an unknown folder is what we avoid.
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _check_rev(rev: str | None) -> None:
    if rev is not None and (not rev or rev.startswith("-") or any(c in rev for c in "\0\n\r :")):
        raise SourceError(f"invalid revision {rev!r}")


def resolve(spec: str, rev: str | None, settings: Settings, side: Side) -> Source:
    """Turn what the user typed into a folder on disk holding the files at the wanted revision."""
    _check_rev(rev)
    path = Path(spec).expanduser()
    if os.path.lexists(path):
        if not path.is_dir():
            raise SourceError(f"{spec} is a file, not a folder or a git repository")
        root = path.resolve()
        if os.path.lexists(root / ".git"):
            if rev is None:
                return _checkout(spec, root)
            return _checkout_at(spec, root, rev, settings)
        if _is_bare_repo(root):
            return _from_git(spec, str(root), rev, settings)
        if rev is not None:
            raise SourceError(
                f"{spec} is a plain folder, not a git repository: --rev-{side} needs a git source"
            )
        return Source(spec=spec, kind="folder", root=str(root))
    if spec.startswith("-") or "::" in spec.split("/", 1)[0]:
        # `-...` would be read as an option; `ext::cmd` runs a command.
        raise SourceError(f"unsupported source {spec!r}")
    if _looks_like_url(spec):
        return _from_git(spec, spec, rev, settings)
    hint = ""
    if re.match(r"^(github\.com|gitlab\.com|huggingface\.co|bitbucket\.org)/", spec):
        hint = f" (did you mean https://{spec}?)"
    raise SourceError(f"no such file or directory: {spec}{hint}")


def history_dir(source: Source, settings: Settings) -> Path | None:
    """The git directory holding the full history behind `source` (None for a plain folder).

    For a checkout read at its work tree this is the user's own `.git`: read it, never write it.
    For everything else it is the cached clone `resolve` made.
    """
    if source.kind == "folder":
        return None
    path = Path(source.spec).expanduser()
    if os.path.lexists(path):
        root = path.resolve()
        if source.kind == "checkout" and source.rev is None:
            return root / ".git"
        url = str(root)
    else:
        url = source.spec
    gitdir = git.clone_path(settings.cache_dir, url)
    return gitdir if gitdir.is_dir() else None


def _checkout(spec: str, root: Path) -> Source:
    args = git.worktree_args(root)
    try:
        commit = git.rev_parse(args, "HEAD")
        date = git.commit_date(args, commit) if commit else None
        dirty = git.worktree_dirty(root)
    except git.GitFailed as exc:
        raise SourceError(f"cannot read the git checkout {spec}: {exc.detail}") from None
    return Source(
        spec=spec, kind="checkout", root=str(root), commit=commit, commit_date=date, dirty=dirty
    )


def _checkout_at(spec: str, root: Path, rev: str, settings: Settings) -> Source:
    """A revision of the user's checkout, read from a cached clone: their repo is never written."""
    try:
        # Resolve in their repo, so `HEAD~2` or a local branch means what it means to them.
        wanted = git.rev_parse(git.worktree_args(root), rev)
    except git.GitFailed as exc:
        raise SourceError(f"cannot read the git checkout {spec}: {exc.detail}") from None
    if wanted is None:
        raise SourceError(f"cannot find revision {rev} in {spec}")
    gitdir, _ = _clone(str(root), spec, settings)
    args = [f"--git-dir={gitdir}"]
    if not git.has_commit(args, wanted):
        with _capped(spec):
            try:
                git.fetch(gitdir, settings.max_clone_bytes)
            except git.GitStopped:
                raise
            except git.GitFailed as exc:
                log.warning("cannot refresh the clone of %s: %s", spec, exc.detail)
            if not git.has_commit(args, wanted) and (
                git.fetch_one(gitdir, wanted, settings.max_clone_bytes) is None
            ):
                raise SourceError(f"cannot find revision {rev} in {spec}")
    return _materialised(spec, "checkout", gitdir, rev, wanted, settings)


@contextlib.contextmanager
def _capped(spec: str) -> Iterator[None]:
    """A fetch that took the cached clone past --max-clone-size (the clone is gone) stops the
    run, as the first clone would have: the copy it had is no longer there to use."""
    try:
        yield
    except git.GitStopped as exc:
        raise SourceError(
            f"cannot update the cached clone of {_redact(spec)}: {exc.detail}; the clone was "
            "removed"
        ) from None


def _clone(url: str, spec: str, settings: Settings) -> tuple[Path, bool]:
    try:
        return git.ensure_clone(url, settings.cache_dir, settings.max_clone_bytes)
    except git.GitFailed as exc:
        # A local path with a colon in its first part reads as `host:path` too, as git reads
        # it: whoever meant a folder learns why a clone was tried.
        read_as = (
            " (read as the ssh address HOST:PATH, as git reads it; there is no such local folder)"
            if _SCP_NO_USER.match(spec) and not _SCP_LIKE.match(spec)
            else ""
        )
        raise SourceError(f"cannot clone {_redact(spec)}: {exc.detail}{read_as}") from None
    except OSError as exc:
        raise SourceError(f"cannot write the clone cache in {settings.cache_dir}: {exc}") from None


def _from_git(spec: str, url: str, rev: str | None, settings: Settings) -> Source:
    gitdir, fetched = _clone(url, spec, settings)  # a clone made just now needs no fetch
    shown = _redact(spec)
    args = [f"--git-dir={gitdir}"]
    fetch_error: str | None = None

    def refresh() -> None:
        nonlocal fetched, fetch_error
        if fetched:
            return
        fetched = True
        try:
            git.fetch(gitdir, settings.max_clone_bytes)
        except git.GitStopped:
            raise
        except git.GitFailed as exc:
            fetch_error = exc.detail

    with _capped(spec):
        # A branch moves; the default branch too. A tag or a full SHA found locally does not.
        if rev is None or git.rev_parse(args, f"refs/remotes/origin/{rev}") is not None:
            refresh()
        commit = _find_commit(args, rev)
        if commit is None and not fetched:
            refresh()
            commit = _find_commit(args, rev)
        if commit is None and rev is not None and _fetchable(rev):
            commit = git.fetch_one(gitdir, rev, settings.max_clone_bytes)
    if commit is None:
        why = f" (fetch failed: {fetch_error})" if fetch_error else ""
        if rev is None:
            raise SourceError(f"{shown} has no commits{why}")
        raise SourceError(f"cannot find revision {rev} in {shown}{why}")
    if fetch_error:
        log.warning(
            "cannot refresh %s (%s); using the cached copy at %s", shown, fetch_error, commit[:12]
        )
    return _materialised(spec, "git", gitdir, rev, commit, settings)


def _find_commit(args: list[str], rev: str | None) -> str | None:
    if rev is None:
        candidates = ["refs/remotes/origin/HEAD", "HEAD"]
    else:
        candidates = [f"refs/remotes/origin/{rev}", f"refs/tags/{rev}", rev]
    for candidate in candidates:
        sha = git.rev_parse(args, candidate)
        if sha is not None:
            return sha
    return None


def _fetchable(rev: str) -> bool:
    # Commits and refs no branch or tag points at (pull requests) can be fetched by name.
    return bool(re.fullmatch(r"[0-9a-fA-F]{40}|refs/[\w./-]+", rev))


def _materialised(
    spec: str, kind: SourceKind, gitdir: Path, rev: str | None, commit: str, settings: Settings
) -> Source:
    try:
        root = git.materialise(gitdir, commit, settings.cache_dir)
    except git.GitFailed as exc:
        detail = exc.detail
        raise SourceError(
            f"cannot read commit {commit[:12]} of {_redact(spec)}: {detail}"
        ) from None
    except OSError as exc:
        raise SourceError(f"cannot write the tree cache in {settings.cache_dir}: {exc}") from None
    date = git.commit_date([f"--git-dir={gitdir}"], commit)
    return Source(
        spec=spec,
        kind=kind,
        root=str(root),
        rev=rev,
        commit=commit,
        commit_date=date,
    )


def _redact(url: str) -> str:
    """Hide a password or token in `https://user:secret@host/...`."""
    return re.sub(r"^([a-zA-Z][\w+.-]*://[^/@:]*):[^/@]*@", r"\1:***@", url)


# --- which files ------------------------------------------------------------


def read_files(
    source: Source, settings: Settings, side: Side
) -> tuple[list[SourceFile], list[Warning]]:
    """Every *.py and the code cells of every *.ipynb under source.root, honouring .gitignore and
    settings.include/exclude globs; sorted by path; skipped files become Warning(skipped=True)."""
    root = Path(source.root)
    if not root.is_dir():
        raise SourceError(f"the folder of {source.spec} is gone: {root}")
    warnings: list[Warning] = []
    wanted, excluded = _selectors(settings)
    if source.kind == "folder" or (not settings.use_gitignore and source.kind == "checkout"):
        listed = _walk(root, side, warnings, gitignore=settings.use_gitignore)
    elif os.path.lexists(root / ".git"):
        try:
            listed = git.worktree_files(root)
        except git.GitFailed as exc:
            raise SourceError(f"cannot list the files of {source.spec}: {exc.detail}") from None
        # Tracked files deleted from the work tree are not part of what is being compared
        # (the checkout as it is), but a reviewer handed a checkout whose files are gone must
        # not read "independent" without knowing why.
        listed = [p for p in listed if os.path.lexists(os.path.join(root, p))]
        # A clean work tree (git status said so when the source was resolved) lacks nothing
        # of HEAD: no listing of the commit on every run.
        deleted = 0
        if source.dirty:
            deleted = sum(
                1 for p in git.head_files(root) if wanted(p) and not os.path.lexists(root / p)
            )
        if deleted:
            warnings.append(
                Warning(
                    side,
                    None,
                    f"{deleted} tracked code file(s) deleted in the work tree (not committed) "
                    f"are not compared; {_redact(source.spec)}@HEAD compares the last commit",
                    skipped=True,
                )
            )
    else:
        # A tree materialised from a commit: every file in it is tracked, so no .gitignore applies.
        listed = _walk(root, side, warnings, gitignore=False)
        warnings += _missing_objects(root, wanted, side)
    chosen = sorted(p for p in listed if wanted(p))
    if len(chosen) > MAX_FILES:
        warnings.append(
            Warning(
                side,
                None,
                f"{len(chosen)} files; only the first {MAX_FILES} by path are read",
                skipped=True,
            )
        )
        chosen = chosen[:MAX_FILES]
    root_real = os.path.realpath(root)
    warnings += _linked_folders_outside(root, root_real, listed, wanted, excluded, side)
    warnings += _unread_repositories(root, listed, excluded, side)

    chosen_set = frozenset(chosen)
    files: list[SourceFile] = []
    for rel in chosen:
        file, warning = _read_one(root, root_real, rel, settings, side, chosen_set)
        if file is not None:
            files.append(file)
        if warning is not None:
            warnings.append(warning)
    if not files:
        # Legitimate (a model repository holds weights and a tokenizer only), but the code
        # verdict then says nothing of this side.
        warnings.append(Warning(side, None, "no Python code read: this side's code is empty"))
    return files, warnings


def _missing_objects(root: Path, wanted: Callable[[str], bool], side: Side) -> list[Warning]:
    """The files of a commit the repository holds no content for (a partial or damaged
    clone): each code file named, the rest counted in one warning."""
    missing = git.missing_from(root)
    code = [p for p in missing if wanted(p)]
    out = [
        Warning(side, _shown(p), "its content is missing from the repository; not compared", True)
        for p in code
    ]
    others = [p for p in missing if not wanted(p)]
    if others:
        shown = ", ".join(_shown(p) for p in others[:3])
        more = f" and {len(others) - 3} more" if len(others) > 3 else ""
        out.append(
            Warning(
                side,
                None,
                f"{len(others)} other file(s) of the commit are missing from the repository "
                f"({shown}{more}): tokenizers, configs or weights among them are not compared",
                skipped=True,
            )
        )
    return out


def _selectors(settings: Settings) -> tuple[Callable[[str], bool], Callable[[str], bool]]:
    """(wanted, excluded) predicates on repo-relative posix paths (gitignore-style globs)."""
    try:
        include = _gitignore_spec(settings.include) if settings.include else None
        exclude = _gitignore_spec(settings.exclude) if settings.exclude else None
    except ValueError as exc:
        raise UsageError(f"invalid --include/--exclude pattern: {exc}") from None

    def excluded(path: str) -> bool:
        return exclude is not None and exclude.match_file(path)

    def wanted(path: str) -> bool:
        if os.path.splitext(path)[1].lower() not in _SUFFIXES:
            return False
        if include is not None and not include.match_file(path):
            return False
        return not excluded(path)

    return wanted, excluded


_Specs: TypeAlias = "tuple[tuple[str, GitIgnoreSpec], ...]"


def _gitignore_spec(lines: Iterable[str]) -> GitIgnoreSpec:
    # Imported on first use: pathspec's import is ~14 ms of every start, and a tree with no
    # .gitignore compared without globs never needs it.
    from pathspec import GitIgnoreSpec

    return GitIgnoreSpec.from_lines(lines)


def _walk(root: Path, side: Side, warnings: list[Warning], *, gitignore: bool) -> list[str]:
    """Relative paths of every non-folder entry (symlinks included, never followed). The
    code files that .gitignore rules leave out are counted in a warning: the tree being
    compared wrote those rules, and must not hide code without a word."""
    out: list[str] = []
    hidden_files: list[str] = []  # code files the rules leave out
    hidden_dirs: list[str] = []  # folders they leave out, searched for code afterwards
    stack: list[tuple[str, _Specs]] = [("", ())]
    while stack:
        rel_dir, specs = stack.pop()
        abs_dir = os.path.join(root, rel_dir)
        if gitignore:
            spec = _load_gitignore(abs_dir)
            if spec is not None:
                specs = (*specs, (rel_dir, spec))
        try:
            with os.scandir(abs_dir) as it:
                entries = list(it)
        except OSError as exc:
            warnings.append(
                Warning(side, rel_dir or ".", f"cannot list folder: {exc.strerror}", skipped=True)
            )
            continue
        for entry in entries:
            if entry.name == ".git":
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if specs and _ignored(rel, is_dir, specs):
                if is_dir:
                    hidden_dirs.append(rel)
                elif os.path.splitext(rel)[1].lower() in _SUFFIXES:
                    hidden_files.append(rel)
                continue
            if is_dir:
                stack.append((rel, specs))
            else:
                out.append(rel)
    if hidden_files or hidden_dirs:
        note = _ignored_code(root, hidden_files, hidden_dirs)
        if note:
            warnings.append(Warning(side, None, note, skipped=True))
    return out


# Folders a .gitignore leaves out are searched for code this far, not further: a virtualenv
# holds tens of thousands of files, and the count only has to say that code was left out.
_MAX_IGNORED_ENTRIES = 20_000


def _ignored_code(root: Path, files: list[str], folders: list[str]) -> str | None:
    """The warning for the code files .gitignore rules left out, `files` and those found in
    `folders`; None when there are none (a left-out folder without code, as `__pycache__/`
    or `build/` mostly are)."""
    stack = list(folders)
    seen = 0
    while stack and seen < _MAX_IGNORED_ENTRIES:
        rel_dir = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel_dir)) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            rel = f"{rel_dir}/{entry.name}"
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                stack.append(rel)
            elif os.path.splitext(entry.name)[1].lower() in _SUFFIXES:
                files.append(rel)
    if not files:
        return None
    files.sort()
    count = f"{len(files)}{'+' if stack else ''}"
    what = "Python file or notebook" if count == "1" else "Python files or notebooks"
    shown = ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")
    return (
        f"{count} {what} left out by the tree's .gitignore rules ({shown}); "
        "--no-gitignore reads them"
    )


def _ignored(rel: str, is_dir: bool, specs: _Specs) -> bool:
    # As in git: the last matching pattern wins, and deeper .gitignore files come later.
    verdict = False
    for base, spec in specs:
        sub = rel[len(base) + 1 :] if base else rel
        result = spec.check_file(sub + "/" if is_dir else sub)
        if result.include is not None:
            verdict = result.include
    return verdict


def _load_gitignore(folder: str) -> GitIgnoreSpec | None:
    path = os.path.join(folder, ".gitignore")
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_GITIGNORE_BYTES:
            return None
        with open(path, "rb") as fh:
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    try:
        return _gitignore_spec(lines)
    except ValueError:
        # git skips a pattern it cannot parse; so do we, keeping the others.
        return _gitignore_spec([line for line in lines if _valid_pattern(line)])


def _valid_pattern(line: str) -> bool:
    try:
        _gitignore_spec([line])
    except ValueError:
        return False
    return True


def _inside(path: str, root_real: str) -> bool:
    return path == root_real or path.startswith(root_real.rstrip(os.sep) + os.sep)


def _linked_folders_outside(
    root: Path,
    root_real: str,
    listed: Iterable[str],
    wanted: Callable[[str], bool],
    excluded: Callable[[str], bool],
    side: Side,
) -> list[Warning]:
    """Symlinked folders pointing out of the source: never followed, but a reviewer should know."""
    out: list[Warning] = []
    for rel in listed:
        if wanted(rel) or excluded(rel):
            continue
        full = os.path.join(root, rel)
        if os.path.islink(full) and os.path.isdir(full):
            if not _inside(os.path.realpath(full), root_real):
                out.append(
                    Warning(
                        side,
                        _shown(rel),
                        "symlink to a folder outside the repository, not followed",
                        skipped=True,
                    )
                )
    return out


def _unread_repositories(
    root: Path, listed: Iterable[str], excluded: Callable[[str], bool], side: Side
) -> list[Warning]:
    """Submodules and nested clones: their code is another repository's, and is not read."""
    found: dict[str, str] = {}
    for rel in _submodule_paths(root):
        found[rel] = "git submodule, not read"
    for rel in listed:
        if rel.endswith("/"):  # how `git ls-files -o` shows an untracked nested repository
            found.setdefault(rel.rstrip("/"), "nested git repository, not read")
    return [
        Warning(side, _shown(rel), reason, skipped=True)
        for rel, reason in sorted(found.items())
        if not excluded(rel) and not excluded(rel + "/")
    ]


def _submodule_paths(root: Path) -> list[str]:
    path = root / ".gitmodules"
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return []
        with open(path, "rb") as fh:
            text = fh.read(_MAX_GITIGNORE_BYTES).decode("utf-8", "replace")
    except OSError:
        return []
    found = re.findall(r"^\s*path\s*=\s*(.+?)\s*$", text, flags=re.MULTILINE)
    return [p.strip('"').strip("/") for p in found if p.strip('"').strip("/")]


# --- reading one file -------------------------------------------------------


def _shown(rel: str) -> str:
    """A path that is valid text even when the file name is not UTF-8."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


_LFS_POINTER = (
    "a Git LFS pointer: the file's content is kept outside the repository and was not "
    "fetched (`git lfs pull` in a clone fetches it; then compare that folder)"
)


def _read_one(
    root: Path, root_real: str, rel: str, settings: Settings, side: Side, chosen: frozenset[str]
) -> tuple[SourceFile | None, Warning | None]:
    """The file, or None when it is not read; and a warning on how it was read, if any."""

    def skip(reason: str) -> tuple[None, Warning]:
        return None, Warning(side, _shown(rel), reason, skipped=True)

    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return skip("file name is not valid UTF-8")
    full = os.path.join(root, rel)
    try:
        st = os.lstat(full)
    except OSError as exc:
        return skip(f"cannot read: {exc.strerror}")
    if stat.S_ISLNK(st.st_mode):
        real = os.path.realpath(full)
        if not _inside(real, root_real):
            return skip("symlink to a target outside the repository")
        target = Path(os.path.relpath(real, root_real)).as_posix()
        if not os.path.exists(real):
            return skip(f"dangling symlink to {_shown(target)}")
        if os.path.isdir(real):
            return skip("symlink to a folder, not followed")
        if target in chosen:
            # The target is read on its own; reading it twice would double its evidence.
            return None, Warning(side, rel, f"symlink to {target}, compared as {target}")
        full = real
    elif not stat.S_ISREG(st.st_mode):
        return skip("not a regular file")

    kind = _SUFFIXES[os.path.splitext(rel)[1].lower()]
    limit = settings.max_notebook_bytes if kind == "notebook" else settings.max_file_bytes
    raw = _read_capped(full, limit)
    if isinstance(raw, str):
        return skip(raw)
    wide = _wide_encoding(raw)
    # UTF-16 and UTF-32 text is full of NUL bytes: only its byte order mark tells it apart.
    if wide is None and b"\0" in raw[:_BINARY_PROBE]:
        return skip("binary file (NUL bytes)")
    if len(raw) <= git.LFS_POINTER_MAX_BYTES and git.is_lfs_pointer(raw):
        return skip(_LFS_POINTER)
    digest = hashlib.sha256(raw).hexdigest()
    if kind == "notebook":
        try:
            code = extract_code(raw)
        except NotebookError as exc:
            return skip(exc.reason)
        notebook = SourceFile(
            path=rel,
            sha256=digest,
            text=code.text,
            kind="notebook",
            size=len(raw),
            cell_starts=code.cell_starts,
            cell_numbers=code.cell_numbers,
        )
        return notebook, None
    note = None
    if wide is not None:
        text: str | None = _decode_wide(raw, wide)
        if text is None:
            return skip(f"starts with a {wide} byte order mark but does not decode as {wide}")
        note = f"{wide} text (Python cannot run a file saved so); compared as decoded"
    else:
        text = decode_source(raw)
        if text is None:
            text, note = _decode_lossy(raw)
    file = SourceFile(path=rel, sha256=digest, text=_newlines(text), kind="python", size=len(raw))
    return file, None if note is None else Warning(side, rel, note)


def _read_capped(path: str, limit: int) -> bytes | str:
    """The file's bytes, or the reason it was not read."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return f"cannot read: {exc.strerror}"
    with os.fdopen(fd, "rb") as fh:
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return "not a regular file"  # a FIFO or device must never be read
            if st.st_size > limit:
                return f"larger than {limit} bytes"
            raw = fh.read(limit + 1)
        except OSError as exc:
            return f"cannot read: {exc.strerror}"
    if len(raw) > limit:
        return f"larger than {limit} bytes"
    return raw


def decode_source(raw: bytes) -> str | None:
    """Text of a Python file as Python would read it (PEP 263), or None if it cannot be decoded."""
    if raw.startswith(codecs.BOM_UTF8):
        try:
            return raw[len(codecs.BOM_UTF8) :].decode("utf-8")
        except UnicodeDecodeError:
            return None
    declared = _coding_cookie(raw)
    if declared is not None:
        try:
            return raw.decode(declared)
        except (LookupError, UnicodeDecodeError, ValueError):
            pass  # a wrong or unknown declaration; the file may still be plain UTF-8
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


# Byte order marks of the wide encodings, UTF-32 first: its little-endian mark begins with
# UTF-16's. Text saved so (Windows PowerShell 5 redirects output as UTF-16) is read, with a
# warning; without a mark it cannot be told from binary data.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def _wide_encoding(raw: bytes) -> str | None:
    for bom, name in _WIDE_BOMS:
        if raw.startswith(bom):
            return name
    return None


def _decode_wide(raw: bytes, name: str) -> str | None:
    try:
        return raw.decode(name.lower().replace("-", ""))  # the codec reads and drops the mark
    except UnicodeDecodeError:
        return None


def _decode_lossy(raw: bytes) -> tuple[str, str]:
    """A file Python would refuse (not UTF-8, and no coding declaration that decodes it),
    read all the same: as UTF-8, each byte that is not read as Latin-1. One accented letter
    of an old editor's in a comment must not hide the file's code, and a file re-encoded to
    Latin-1 reads as the UTF-8 original did. The note says how it was read."""
    text = raw.decode("utf-8", "surrogateescape")
    escaped = len(_ESCAPED.findall(text))
    text = text.translate(_LATIN_1_OF_ESCAPED)
    declared = _coding_cookie(raw)
    if declared is None:
        why = "not UTF-8 and declares no coding"
    else:
        try:
            codecs.lookup(declared)
            why = f"declares coding {declared!r}, which does not decode it"
        except LookupError:
            why = f"declares coding {declared!r}, which Python does not know"
    return text, f"{why}; read as UTF-8, its {escaped} undecodable byte(s) as Latin-1"


# surrogateescape holds byte b as U+DC00+b.
_ESCAPED = re.compile("[\udc80-\udcff]")
_LATIN_1_OF_ESCAPED = {0xDC00 + b: b for b in range(0x80, 0x100)}


def _coding_cookie(raw: bytes) -> str | None:
    lines = raw.split(b"\n", 2)[:2]
    for i, line in enumerate(lines):
        match = _CODING.match(line)
        if match:
            return match.group(1).decode("ascii", "replace")
        stripped = line.strip()
        # PEP 263: the second line counts only when the first is blank or a comment.
        if i == 0 and stripped and not stripped.startswith(b"#"):
            return None
    return None


def _newlines(text: str) -> str:
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")
