"""sources: git URLs, checkouts and folders -> files on disk -> SourceFiles and warnings.

Every test builds small real git repositories with the real `git` in a private HOME, so the
user's git configuration can neither help nor hurt.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from plagiarism import git as gitmod
from plagiarism import sources
from plagiarism.config import Settings
from plagiarism.errors import SourceError
from plagiarism.model import Source, SourceFile, Warning
from plagiarism.sources import read_files, resolve, split_rev
from tests.conftest import write_tree as write

# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    config = home / ".gitconfig"
    config.write_text(
        "[user]\n\tname = Test\n\temail = test@example.com\n"
        "[init]\n\tdefaultBranch = main\n"
        '[protocol "file"]\n\tallow = always\n'
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    return config


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache")


def g(cwd: Path, *args: str) -> str:
    """Plain git, as a user would run it, to build the fixtures."""
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return proc.stdout.strip()


def git_repo(repo: Path, files: dict[str, str]) -> Path:
    """A new repository holding `files`, not yet committed."""
    repo.mkdir()
    g(repo, "init", "-q")
    write(repo, files)
    return repo


def commit_all(repo: Path, message: str) -> str:
    g(repo, "add", "-A")
    g(repo, "commit", "-q", "-m", message)
    return g(repo, "rev-parse", "HEAD")


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A repo with history: v1 (tag), then main moves on; a `feature` branch off v1."""
    repo = tmp_path / "upstream"
    repo.mkdir()
    g(repo, "init", "-q")
    write(repo, {"model.py": "def forward(x):\n    return x\n", "README.md": "hi\n"})
    shas = {"v1": commit_all(repo, "first")}
    g(repo, "tag", "v1")
    g(repo, "checkout", "-q", "-b", "feature")
    write(repo, {"feature.py": "FEATURE = 1\n"})
    shas["feature"] = commit_all(repo, "feature")
    g(repo, "checkout", "-q", "main")
    write(repo, {"train.py": "def train():\n    pass\n"})
    shas["main"] = commit_all(repo, "second")
    yield repo, shas


def paths(files: list[SourceFile]) -> list[str]:
    return [f.path for f in files]


def by_path(items: list[Warning]) -> dict[str | None, Warning]:
    return {w.path: w for w in items}


class GitSpy:
    """Records the git subcommands sources run, to see what a second resolve does."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[str]] = []
        real = gitmod.run

        def spy(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
            self.calls.append(list(args))
            return real(args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(gitmod, "run", spy)

    def subcommands(self) -> list[str]:
        return [next(a for a in call if not a.startswith("-")) for call in self.calls]


# --- split_rev ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("https://github.com/org/repo", ("https://github.com/org/repo", None)),
        ("https://github.com/org/repo@v1.2", ("https://github.com/org/repo", "v1.2")),
        ("https://user@github.com/org/repo", ("https://user@github.com/org/repo", None)),
        ("git@github.com:org/repo.git", ("git@github.com:org/repo.git", None)),
        ("git@github.com:org/repo.git@v1", ("git@github.com:org/repo.git", "v1")),
        ("git@host:repo", ("git@host:repo", None)),
        ("./repo@0123abc", ("./repo", "0123abc")),
        ("repo@", ("repo@", None)),
        ("@main", ("@main", None)),
    ],
)
def test_split_rev(spec: str, expected: tuple[str, str | None]) -> None:
    assert split_rev(spec) == expected


def test_split_rev_keeps_an_existing_path_whole(tmp_path: Path) -> None:
    folder = tmp_path / "weird@name"
    folder.mkdir()
    assert split_rev(str(folder)) == (str(folder), None)


# --- git URLs ----------------------------------------------------------------------------------


def test_file_url_resolves_remote_head(
    upstream: tuple[Path, dict[str, str]], settings: Settings
) -> None:
    repo, shas = upstream
    src = resolve(f"file://{repo}", None, settings, "a")
    assert src.kind == "git"
    assert src.commit == shas["main"]
    assert src.commit_date is not None and src.commit_date[:4].isdigit()
    assert Path(src.root) == settings.cache_dir / "trees" / shas["main"]
    assert not (Path(src.root) / ".git").exists()
    files, warnings = read_files(src, settings, "a")
    assert paths(files) == ["model.py", "train.py"]
    assert warnings == []
    model = files[0]
    raw = (repo / "model.py").read_bytes()
    assert model.sha256 == hashlib.sha256(raw).hexdigest()
    assert model.size == len(raw)
    assert model.kind == "python"
    assert model.text == "def forward(x):\n    return x\n"


def test_plain_path_to_a_bare_repo(
    upstream: tuple[Path, dict[str, str]], settings: Settings, tmp_path: Path
) -> None:
    repo, shas = upstream
    bare = tmp_path / "bare.git"
    g(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    src = resolve(str(bare), None, settings, "b")
    assert src.kind == "git"
    assert src.commit == shas["main"]
    assert paths(read_files(src, settings, "b")[0]) == ["model.py", "train.py"]


@pytest.mark.parametrize("rev", ["v1", "feature", "main"])
def test_pinned_revision_by_name(
    upstream: tuple[Path, dict[str, str]], settings: Settings, rev: str
) -> None:
    repo, shas = upstream
    src = resolve(f"file://{repo}", rev, settings, "a")
    assert src.commit == shas[rev]
    assert src.rev == rev
    expected = {
        "v1": ["model.py"],
        "feature": ["feature.py", "model.py"],
        "main": ["model.py", "train.py"],
    }[rev]
    assert paths(read_files(src, settings, "a")[0]) == expected


def test_pinned_commit_full_and_short_sha_via_url_at_rev(
    upstream: tuple[Path, dict[str, str]], settings: Settings
) -> None:
    repo, shas = upstream
    for rev in (shas["v1"], shas["feature"][:10]):
        spec, parsed = split_rev(f"file://{repo}@{rev}")
        assert parsed == rev
        src = resolve(spec, parsed, settings, "a")
        assert src.spec == f"file://{repo}"
        assert src.commit in (shas["v1"], shas["feature"])
        assert src.commit.startswith(rev)


def test_clone_is_reused_not_repeated(
    upstream: tuple[Path, dict[str, str]], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, shas = upstream
    url = f"file://{repo}"
    first = resolve(url, "v1", settings, "a")
    clones = list((settings.cache_dir / "clones").iterdir())
    assert len(clones) == 1
    marker = clones[0] / "test-marker"
    marker.write_text("still here")

    spy = GitSpy(monkeypatch)
    second = resolve(url, "v1", settings, "a")
    assert second == first
    assert "clone" not in spy.subcommands()
    # A tag found locally needs no network, and the tree is not rebuilt either.
    assert "fetch" not in spy.subcommands()
    assert "ls-tree" not in spy.subcommands()
    assert marker.read_text() == "still here"
    assert list((settings.cache_dir / "clones").iterdir()) == clones
    # Later stages find the full history in that same clone.
    assert sources.history_dir(second, settings) == clones[0]
    assert g(clones[0], "rev-list", "--count", shas["main"]) == "2"


def test_branch_is_refreshed_on_reuse(
    upstream: tuple[Path, dict[str, str]], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, shas = upstream
    url = f"file://{repo}"
    assert resolve(url, "main", settings, "a").commit == shas["main"]
    write(repo, {"later.py": "LATER = 1\n"})
    newer = commit_all(repo, "third")
    spy = GitSpy(monkeypatch)
    src = resolve(url, "main", settings, "a")
    assert src.commit == newer
    assert "clone" not in spy.subcommands()
    assert "fetch" in spy.subcommands()
    assert resolve(url, None, settings, "a").commit == newer  # the default branch too


def test_new_tag_upstream_is_fetched_when_missing(
    upstream: tuple[Path, dict[str, str]], settings: Settings
) -> None:
    repo, shas = upstream
    url = f"file://{repo}"
    resolve(url, None, settings, "a")
    g(repo, "tag", "v2", shas["feature"])
    assert resolve(url, "v2", settings, "a").commit == shas["feature"]


def test_fetch_failure_falls_back_to_cached_revision(
    upstream: tuple[Path, dict[str, str]],
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo, shas = upstream
    url = f"file://{repo}"
    resolve(url, "main", settings, "a")
    repo.rename(tmp_path / "gone")
    with caplog.at_level(logging.WARNING):
        src = resolve(url, "main", settings, "a")
    assert src.commit == shas["main"]
    assert any("cannot refresh" in r.getMessage() for r in caplog.records)


def test_uncloneable_url(tmp_path: Path, settings: Settings) -> None:
    url = f"file://{tmp_path}/no-such-repo"
    with pytest.raises(SourceError) as info:
        resolve(url, None, settings, "a")
    message = str(info.value)
    assert message.startswith(f"cannot clone {url}: ")
    assert "\n" not in message
    assert message.endswith("does not appear to be a git repository")
    assert not any((settings.cache_dir / "clones").glob("*.git"))  # no half clone left behind


def test_clone_error_names_the_cause_not_the_boilerplate() -> None:
    github_ssh = (
        "Cloning into 'x'...\n"
        "ERROR: Repository not found.\n"
        "fatal: Could not read from remote repository.\n\n"
        "Please make sure you have the correct access rights\n"
        "and the repository exists.\n"
    )
    assert gitmod.last_meaningful_line(github_ssh) == "Repository not found."
    assert gitmod.last_meaningful_line("remote: \x1b[31mred\x1b[0m\n") == "remote:  [31mred [0m"


def test_url_credentials_are_not_shown(settings: Settings) -> None:
    with pytest.raises(SourceError) as info:
        resolve("https://user:s3cret@127.0.0.1:9/org/repo", None, settings, "a")
    assert "s3cret" not in str(info.value)
    assert str(info.value).startswith("cannot clone https://user:***@127.0.0.1:9/org/repo: ")


def test_unknown_revision(upstream: tuple[Path, dict[str, str]], settings: Settings) -> None:
    repo, _ = upstream
    url = f"file://{repo}"
    with pytest.raises(SourceError, match=r"^cannot find revision nope in file://"):
        resolve(url, "nope", settings, "a")
    with pytest.raises(SourceError, match=r"^cannot find revision 0{40} in file://"):
        resolve(url, "0" * 40, settings, "a")


@pytest.mark.parametrize("rev", ["--upload-pack=touch x", "a:b", ""])
def test_revision_that_could_be_an_option_is_refused(
    upstream: tuple[Path, dict[str, str]], settings: Settings, rev: str
) -> None:
    repo, _ = upstream
    with pytest.raises(SourceError, match="invalid revision"):
        resolve(f"file://{repo}", rev, settings, "a")


def test_transport_commands_are_refused(settings: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(SourceError):
        resolve(f"ext::sh -c touch% {marker}", None, settings, "a")
    assert not marker.exists()


def test_git_missing_from_path(
    upstream: tuple[Path, dict[str, str]], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = upstream
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SourceError, match="git is not installed"):
        resolve(f"file://{repo}", None, settings, "a")


def test_crash_while_materialising_leaves_no_tree(
    upstream: tuple[Path, dict[str, str]], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, shas = upstream

    def boom(self: object, sha: str, fh: object) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(gitmod._BlobReader, "copy", boom)
        with pytest.raises(SourceError):
            resolve(f"file://{repo}", None, settings, "a")
    trees = settings.cache_dir / "trees"
    assert list(trees.iterdir()) == []  # neither the final name nor a temp folder
    src = resolve(f"file://{repo}", None, settings, "a")
    assert paths(read_files(src, settings, "a")[0]) == ["model.py", "train.py"]


# --- local paths --------------------------------------------------------------------------------


def test_missing_path(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^no such file or directory: "):
        resolve(str(tmp_path / "nowhere"), None, settings, "a")
    with pytest.raises(SourceError, match=r"did you mean https://github.com/org/repo\?"):
        resolve("github.com/org/repo", None, settings, "a")


@pytest.mark.parametrize(
    ("spec", "note"),
    [("nohost.invalid:org/repo.git", True), ("nohost.invalid:/srv/repo.git", True),
     ("git@nohost.invalid:org/repo.git", False)],
)  # fmt: skip
def test_scp_style_addresses_are_cloned_with_or_without_a_user(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, spec: str, note: bool
) -> None:
    # `false` as ssh: the clone is tried and fails at once, with no network.
    monkeypatch.setenv("GIT_SSH_COMMAND", "false")
    spy = GitSpy(monkeypatch)
    with pytest.raises(SourceError, match=rf"^cannot clone {re.escape(spec)}") as err:
        resolve(spec, None, settings, "a")
    assert "clone" in spy.subcommands()
    assert any(spec in call for call in spy.calls)
    assert ("read as the ssh address HOST:PATH" in str(err.value)) is note


def test_a_clone_past_its_size_cap_is_stopped_and_removed(
    settings: Settings, tmp_path: Path
) -> None:
    repo = git_repo(tmp_path / "heavy", {"model.py": "W = 1\n"})
    (repo / "weights.bin").write_bytes(os.urandom(3 << 20))  # history git cannot compress
    commit_all(repo, "weights in history")
    capped = settings.with_overrides(max_clone_bytes=1 << 20)
    with pytest.raises(
        SourceError, match=r"^cannot clone .*over the 1 MiB limit \(--max-clone-size\)"
    ):
        resolve(f"file://{repo}", None, capped, "a")
    clones = capped.cache_dir / "clones"
    assert not clones.exists() or not [p for p in clones.rglob("*") if p.is_file()]
    src = resolve(f"file://{repo}", None, settings, "a")  # the default cap lets it through
    assert paths(read_files(src, settings, "a")[0]) == ["model.py"]


def test_a_fetch_that_takes_the_clone_past_its_cap_removes_it(
    settings: Settings, tmp_path: Path
) -> None:
    # The cap held for the first clone only: a later run's fetch could grow the cached clone
    # without bound (checkpoints committed upstream since). A local fetch ends before git can
    # be watched, so the size is also looked at once it is done.
    repo = git_repo(tmp_path / "growing", {"model.py": "W = 1\n"})
    commit_all(repo, "code")
    capped = settings.with_overrides(max_clone_bytes=1 << 20)
    src = resolve(f"file://{repo}", None, capped, "a")
    assert paths(read_files(src, capped, "a")[0]) == ["model.py"]
    (repo / "weights.bin").write_bytes(os.urandom(3 << 20))
    commit_all(repo, "weights committed upstream")
    with pytest.raises(
        SourceError,
        match=r"^cannot update the cached clone of file://.*over the 1 MiB limit "
        r"\(--max-clone-size\).*; the clone was removed$",
    ):
        resolve(f"file://{repo}", None, capped, "a")
    assert not list((capped.cache_dir / "clones").glob("*.git"))
    src = resolve(f"file://{repo}", None, settings, "a")  # the default cap lets it through
    assert src.commit == g(repo, "rev-parse", "HEAD")


def test_files_whose_objects_the_repository_lacks_are_named(
    settings: Settings, tmp_path: Path
) -> None:
    # A partial or damaged repository (a snapshot without its largest files): the commit
    # names blobs it does not hold. The rest is compared; what is missing is said, never
    # dropped in silence, and one missing object no longer stops the whole run.
    work = git_repo(
        tmp_path / "work",
        {"model.py": "def f(x):\n    return x + 1\n", "lost.py": "LOST = 1\n", "w.bin": "w" * 99},
    )
    commit_all(work, "code and weights")
    bare = tmp_path / "bare.git"
    g(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    for name in ("lost.py", "w.bin"):
        sha = g(work, "rev-parse", f"HEAD:{name}")
        (bare / "objects" / sha[:2] / sha[2:]).unlink()
    src = resolve(str(bare), None, settings, "b")
    files, warnings = read_files(src, settings, "b")
    assert paths(files) == ["model.py"]
    said = {(w.path, w.reason, w.skipped) for w in warnings}
    assert ("lost.py", "its content is missing from the repository; not compared", True) in said
    assert any(
        w.path is None
        and w.skipped
        and w.reason.startswith("1 other file(s) of the commit")
        and "(w.bin)" in w.reason
        for w in warnings
    )
    again = read_files(resolve(str(bare), None, settings, "b"), settings, "b")[1]
    assert {(w.path, w.reason) for w in again} == {(w.path, w.reason) for w in warnings}


def test_code_deleted_from_a_checkout_is_said(settings: Settings, tmp_path: Path) -> None:
    # A checkout is compared as it is; one handed over with its files deleted (staged or not)
    # must not read as "independent" without a word.
    repo = git_repo(tmp_path / "co", {"a.py": "A = 1\n", "b.py": "B = 2\n", "c.py": "C = 3\n"})
    commit_all(repo, "three")
    (repo / "a.py").unlink()
    g(repo, "rm", "-q", "b.py")
    src = resolve(str(repo), None, settings, "b")
    files, warnings = read_files(src, settings, "b")
    assert paths(files) == ["c.py"]
    (said,) = [w for w in warnings if "deleted in the work tree" in w.reason]
    assert said.skipped and said.reason.startswith("2 tracked code file(s) deleted")
    assert said.reason.endswith(f"{repo}@HEAD compares the last commit")
    (repo / "c.py").unlink()
    files, warnings = read_files(resolve(str(repo), None, settings, "b"), settings, "b")
    assert files == []
    assert Warning("b", None, "no Python code read: this side's code is empty") in warnings


def test_a_drive_letter_or_a_path_with_a_colon_later_is_no_address(
    settings: Settings, tmp_path: Path
) -> None:
    for spec in ("C:/models", str(tmp_path / "run:2")):
        with pytest.raises(SourceError, match=r"^no such file or directory: "):
            resolve(spec, None, settings, "a")


def test_a_dot_git_that_is_not_a_repository(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "fake"
    write(folder, {".git/config.py": "X = 1\n", "a.py": "A = 1\n"})
    with pytest.raises(SourceError, match=r"^cannot read the git checkout .*not a git repository"):
        resolve(str(folder), None, settings, "a")


def test_a_file_is_not_a_source(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("x = 1\n")
    with pytest.raises(SourceError, match="is a file, not a folder"):
        resolve(str(tmp_path / "x.py"), None, settings, "a")


def test_plain_folder_with_a_rev_is_an_error(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    with pytest.raises(SourceError) as info:
        resolve(str(folder), "v1", settings, "b")
    assert str(info.value) == (
        f"{folder} is a plain folder, not a git repository: --rev-b needs a git source"
    )


def test_plain_folder_honours_nested_gitignore(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    write(
        folder,
        {
            ".gitignore": "build/\n*_generated.py\n/top_only.py\n",
            "main.py": "A = 1\n",
            "top_only.py": "B = 1\n",
            "build/out.py": "C = 1\n",
            "pkg/.gitignore": "secret.py\n!keep_generated.py\n",
            "pkg/secret.py": "D = 1\n",
            "pkg/top_only.py": "E = 1\n",  # the root pattern is anchored: this one stays
            "pkg/x_generated.py": "F = 1\n",
            "pkg/keep_generated.py": "G = 1\n",  # re-included by the nested file
            "pkg/sub/secret.py": "H = 1\n",
            "other/secret.py": "I = 1\n",  # pkg's rules do not reach here
            "vendored/.git/config.py": "J = 1\n",  # a nested .git folder is never read
        },
    )
    src = resolve(str(folder), None, settings, "a")
    assert src == Source(spec=str(folder), kind="folder", root=str(folder.resolve()))
    files, warnings = read_files(src, settings, "a")
    assert paths(files) == [
        "main.py",
        "other/secret.py",
        "pkg/keep_generated.py",
        "pkg/top_only.py",
    ]
    # The tree wrote those rules: what they hide is counted, never dropped without a word.
    (hidden,) = warnings
    assert hidden.skipped and hidden.path is None
    assert hidden.reason.startswith(
        "5 Python files or notebooks left out by the tree's .gitignore rules "
        "(build/out.py, pkg/secret.py, pkg/sub/secret.py, ...)"
    )
    everything = settings.with_overrides(use_gitignore=False)
    files, warnings = read_files(src, everything, "a")
    assert len(files) == 9 and warnings == []


def test_a_git_lfs_pointer_is_skipped_by_name(settings: Settings, tmp_path: Path) -> None:
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "ab" * 32 + "\nsize 9\n"
    folder = tmp_path / "plain"
    write(folder, {"model.py": pointer, "ok.py": "A = 1\n"})
    files, warnings = read_files(resolve(str(folder), None, settings, "a"), settings, "a")
    assert paths(files) == ["ok.py"]
    (w,) = warnings
    assert w.path == "model.py" and w.skipped and w.reason.startswith("a Git LFS pointer")


def test_ignored_folders_without_code_are_not_mentioned(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    write(folder, {".gitignore": "__pycache__/\n*.log\n", "m.py": "A = 1\n",
                   "__pycache__/m.cpython-311.pyc": "x", "run.log": "x"})  # fmt: skip
    src = resolve(str(folder), None, settings, "a")
    files, warnings = read_files(src, settings, "a")
    assert paths(files) == ["m.py"] and warnings == []


def test_include_and_exclude_globs(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    write(
        folder,
        {
            "src/a.py": "A = 1\n",
            "src/deep/b.py": "B = 1\n",
            "src/deep/test_b.py": "C = 1\n",
            "tests/t.py": "D = 1\n",
            "src/data.txt": "not python\n",
        },
    )
    src = resolve(str(folder), None, settings, "a")
    only_src = settings.with_overrides(include=["src/**"], exclude=["test_*.py"])
    assert paths(read_files(src, only_src, "a")[0]) == ["src/a.py", "src/deep/b.py"]
    no_tests = settings.with_overrides(exclude=["tests/"])
    assert "tests/t.py" not in paths(read_files(src, no_tests, "a")[0])


def test_checkout_reads_tracked_and_untracked_but_not_ignored(
    settings: Settings, tmp_path: Path
) -> None:
    repo = git_repo(tmp_path / "work", {".gitignore": "ignored.py\n", "tracked.py": "A = 1\n"})
    head = commit_all(repo, "first")
    src = resolve(str(repo), None, settings, "a")
    assert (src.kind, src.commit, src.dirty, src.root) == ("checkout", head, False, str(repo))
    assert src.commit_date is not None
    assert sources.history_dir(src, settings) == repo / ".git"

    write(repo, {"ignored.py": "B = 1\n", "untracked.py": "C = 1\n"})
    src = resolve(str(repo), None, settings, "a")
    assert src.dirty is True
    files, warnings = read_files(src, settings, "a")
    assert paths(files) == ["tracked.py", "untracked.py"]
    assert warnings == []

    everything = settings.with_overrides(use_gitignore=False)
    assert paths(read_files(src, everything, "a")[0]) == [
        "ignored.py",
        "tracked.py",
        "untracked.py",
    ]

    (repo / "tracked.py").unlink()  # deleted, not yet committed: gone from what is compared
    kept, said = read_files(src, settings, "a")
    assert kept == [files[1]]
    assert [w.reason.split(";")[0] for w in said] == [
        "1 tracked code file(s) deleted in the work tree (not committed) are not compared"
    ]


def test_checkout_without_commits(settings: Settings, tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    g(repo, "init", "-q")
    write(repo, {"a.py": "A = 1\n"})
    src = resolve(str(repo), None, settings, "a")
    assert (src.commit, src.commit_date, src.dirty) == (None, None, True)
    assert paths(read_files(src, settings, "a")[0]) == ["a.py"]


def test_checkout_with_rev_reads_that_revision_without_touching_the_repo(
    upstream: tuple[Path, dict[str, str]], settings: Settings
) -> None:
    repo, shas = upstream
    write(repo, {"wip.py": "WIP = 1\n"})
    refs_before = g(repo, "for-each-ref")
    worktrees_before = g(repo, "worktree", "list")
    for rev, expected in (("v1", shas["v1"]), ("HEAD~1", shas["v1"]), ("feature", shas["feature"])):
        src = resolve(str(repo), rev, settings, "a")
        assert src.commit == expected
        assert src.kind == "checkout"
        assert Path(src.root).is_relative_to(settings.cache_dir)
        assert "wip.py" not in paths(read_files(src, settings, "a")[0])
    assert g(repo, "for-each-ref") == refs_before
    assert g(repo, "worktree", "list") == worktrees_before
    assert g(repo, "status", "--porcelain") == "?? wip.py"
    with pytest.raises(SourceError, match=f"^cannot find revision nope in {repo}$"):
        resolve(str(repo), "nope", settings, "a")


def test_checkout_with_rev_sees_commits_made_after_the_clone(
    upstream: tuple[Path, dict[str, str]], settings: Settings
) -> None:
    repo, shas = upstream
    resolve(str(repo), "v1", settings, "a")
    write(repo, {"new.py": "NEW = 1\n"})
    newer = commit_all(repo, "after the clone")
    src = resolve(str(repo), "HEAD", settings, "a")
    assert src.commit == newer
    assert "new.py" in paths(read_files(src, settings, "a")[0])


# --- untrusted repositories -------------------------------------------------------------------


def test_hooks_filters_and_fsmonitor_never_run(
    settings: Settings, tmp_path: Path, private_git: Path
) -> None:
    marker = tmp_path / "PWNED"
    hooks = tmp_path / "evil-hooks"
    hooks.mkdir()
    for name in ("post-checkout", "reference-transaction", "post-merge", "post-rewrite"):
        hook = hooks / name
        hook.write_text(f"#!/bin/sh\necho {name} >> {marker}\n")
        hook.chmod(0o755)
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\necho script >> {marker}\ncat\n")
    script.chmod(0o755)

    repo = tmp_path / "victim"
    repo.mkdir()
    g(repo, "init", "-q")
    write(repo, {"a.py": "A = 1\n", ".gitattributes": "*.py filter=evil\n"})
    commit_all(repo, "first")
    g(repo, "tag", "v1")
    # Configuration an attacker could ship inside a repository's .git, or a user may have.
    for key, value in (
        ("core.hooksPath", str(hooks)),
        ("core.fsmonitor", str(script)),
        ("filter.evil.clean", str(script)),
        ("filter.evil.smudge", str(script)),
        ("filter.evil.required", "true"),
    ):
        g(repo, "config", "--global", key, value)
        g(repo, "config", key, value)

    # The trap is armed: plain git runs it.
    g(tmp_path, "clone", "-q", str(repo), str(tmp_path / "plain-clone"))
    assert marker.exists()
    marker.unlink()

    (repo / "a.py").write_text("A = 2\n")  # stat-dirty: git status would run the clean filter
    src = resolve(str(repo), None, settings, "a")
    assert src.dirty is True
    read_files(src, settings, "a")
    for rev in ("v1", "main"):
        src = resolve(f"file://{repo}", rev, settings, "a")
        files, _ = read_files(src, settings, "a")
        assert [f.text for f in files] == ["A = 1\n"]
    src = resolve(str(repo), "v1", settings, "a")
    read_files(src, settings, "a")
    assert not marker.exists()


def test_submodules_are_not_cloned(
    upstream: tuple[Path, dict[str, str]], settings: Settings, tmp_path: Path
) -> None:
    sub, _ = upstream
    repo = tmp_path / "super"
    repo.mkdir()
    g(repo, "init", "-q")
    write(repo, {"main.py": "A = 1\n"})
    g(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "vendor")
    commit_all(repo, "with a submodule")
    src = resolve(f"file://{repo}", None, settings, "a")
    files, warnings = read_files(src, settings, "a")
    assert paths(files) == ["main.py"]
    assert warnings == [Warning("a", "vendor", "git submodule, not read", skipped=True)]
    assert (Path(src.root) / ".gitmodules").is_file()
    assert not (Path(src.root) / "vendor" / "model.py").exists()
    assert len(list((settings.cache_dir / "clones").iterdir())) == 1
    # The checkout itself (where the submodule is checked out) reads without descending into it.
    src = resolve(str(repo), None, settings, "a")
    assert paths(read_files(src, settings, "a")[0]) == ["main.py"]


def test_nested_clone_in_a_checkout_is_reported_not_read(
    settings: Settings, tmp_path: Path
) -> None:
    repo = tmp_path / "outer"
    repo.mkdir()
    g(repo, "init", "-q")
    write(repo, {"main.py": "A = 1\n", "third_party/lib/x.py": "B = 1\n"})
    commit_all(repo, "first")
    g(repo / "third_party" / "lib", "init", "-q")
    g(repo, "rm", "-q", "--cached", "third_party/lib/x.py")
    src = resolve(str(repo), None, settings, "a")
    files, warnings = read_files(src, settings, "a")
    assert paths(files) == ["main.py"]
    assert warnings == [
        Warning("a", "third_party/lib", "nested git repository, not read", skipped=True)
    ]
    quiet = settings.with_overrides(exclude=["third_party/"])
    assert read_files(src, quiet, "a")[1] == []


def test_gitattributes_cannot_hide_or_rewrite_files(settings: Settings, tmp_path: Path) -> None:
    repo = tmp_path / "sneaky"
    repo.mkdir()
    g(repo, "init", "-q")
    write(
        repo,
        {
            ".gitattributes": "hidden.py export-ignore\n*.py eol=crlf ident\n",
            "hidden.py": "# $Id$\nX = 1\n",
        },
    )
    commit_all(repo, "first")
    src = resolve(f"file://{repo}", None, settings, "a")
    files, _ = read_files(src, settings, "a")
    assert [(f.path, f.text) for f in files] == [("hidden.py", "# $Id$\nX = 1\n")]
    assert files[0].sha256 == hashlib.sha256(b"# $Id$\nX = 1\n").hexdigest()


# --- reading files -----------------------------------------------------------------------------


def folder_source(settings: Settings, folder: Path) -> Source:
    return resolve(str(folder), None, settings, "b")


CP1252_SOURCE = "#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\nQ = '\u201c'\n"


def test_files_that_cannot_be_compared_become_warnings(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    outside = tmp_path / "outside.py"
    outside.write_text("SECRET = 1\n")
    small = settings.with_overrides(max_file_bytes=1000)
    write(
        folder,
        {
            "ok.py": "A = 1\r\nB = 2\r\n",
            "binary.py": b"\x00\x01\x02" + b"x" * 10,
            "huge.py": "x = 1\n" * 500,
            "latin.py": "# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n".encode("latin-1"),
            "cp1252.py": CP1252_SOURCE.encode("cp1252"),
            "bom.py": b"\xef\xbb\xbfA = 'b\xc3\xa9'\n",
            "undecodable.py": b"NAME = 'caf\xe9'  # \xe2\x80\x94 UTF-8 and a Latin-1 byte\n",
            "wrong_cookie.py": b"# coding: no-such-codec\nA = '\xff'\n",
            "utf16.py": "A = 'caf\xe9'\nB = 2\n".encode("utf-16"),  # a mark, little-endian
            "utf32be.py": codecs.BOM_UTF32_BE + "C = 3\n".encode("utf-32-be"),
            "bad_utf16.py": codecs.BOM_UTF16_LE + b"A\x00\x00\xd8",  # a lone surrogate
            "real/target.py": "T = 1\n",
            "real/data.txt": "D = 1\n",
        },
    )
    (folder / "out.py").symlink_to(outside)
    (folder / "in.py").symlink_to("real/target.py")
    (folder / "renamed.py").symlink_to("real/data.txt")
    (folder / "dangling.py").symlink_to("real/missing.py")
    (folder / "escape").symlink_to(tmp_path)
    os.mkfifo(folder / "fifo.py")

    files, warnings = read_files(folder_source(small, folder), small, "b")
    got = {f.path: f for f in files}
    assert sorted(got) == [
        "bom.py",
        "cp1252.py",
        "latin.py",
        "ok.py",
        "real/target.py",
        "renamed.py",
        "undecodable.py",
        "utf16.py",
        "utf32be.py",
        "wrong_cookie.py",
    ]
    assert got["cp1252.py"].text.endswith("Q = '\u201c'\n")  # the cookie on line 2 counts
    assert got["ok.py"].text == "A = 1\nB = 2\n"
    assert got["latin.py"].text.endswith("NAME = 'caf\xe9'\n")
    assert got["bom.py"].text == "A = 'b\xe9'\n"
    assert got["renamed.py"].text == "D = 1\n"  # its target is not read on its own

    w = by_path(warnings)
    assert w["binary.py"].reason == "binary file (NUL bytes)"
    assert w["huge.py"].reason == "larger than 1000 bytes"
    # Read, and said how: valid UTF-8 stays, a stray byte reads as Latin-1.
    assert got["undecodable.py"].text == "NAME = 'caf\xe9'  # \u2014 UTF-8 and a Latin-1 byte\n"
    assert w["undecodable.py"] == Warning(
        "b",
        "undecodable.py",
        "not UTF-8 and declares no coding; read as UTF-8, its 1 undecodable byte(s) as Latin-1",
    )
    assert got["wrong_cookie.py"].text == "# coding: no-such-codec\nA = '\xff'\n"
    assert w["wrong_cookie.py"].reason.startswith(
        "declares coding 'no-such-codec', which Python does not know; read as UTF-8"
    )
    assert got["utf16.py"].text == "A = 'caf\xe9'\nB = 2\n"
    assert got["utf32be.py"].text == "C = 3\n"
    assert w["utf16.py"] == Warning(
        "b", "utf16.py", "UTF-16 text (Python cannot run a file saved so); compared as decoded"
    )
    assert w["bad_utf16.py"].reason == (
        "starts with a UTF-16 byte order mark but does not decode as UTF-16"
    )
    assert w["out.py"].reason == "symlink to a target outside the repository"
    assert w["dangling.py"].reason == "dangling symlink to real/missing.py"
    assert w["fifo.py"].reason == "not a regular file"
    assert w["escape"].reason == "symlink to a folder outside the repository, not followed"
    assert w["in.py"] == Warning(
        "b", "in.py", "symlink to real/target.py, compared as real/target.py"
    )
    skipped = {p for p, x in w.items() if x.skipped}
    assert skipped == {
        "binary.py",
        "huge.py",
        "bad_utf16.py",
        "out.py",
        "dangling.py",
        "fifo.py",
        "escape",
    }
    assert all(x.side == "b" for x in warnings)
    assert not any("SECRET" in f.text for f in files)


def test_symlinks_in_a_git_tree(settings: Settings, tmp_path: Path) -> None:
    repo = tmp_path / "links"
    repo.mkdir()
    g(repo, "init", "-q")
    write(repo, {"pkg/impl.py": "I = 1\n"})
    (repo / "alias.py").symlink_to("pkg/impl.py")
    (repo / "passwd.py").symlink_to("/etc/passwd")
    (repo / "up.py").symlink_to("../../../../../../etc/passwd")
    commit_all(repo, "links")
    src = resolve(f"file://{repo}", None, settings, "a")
    files, warnings = read_files(src, settings, "a")
    assert paths(files) == ["pkg/impl.py"]
    reasons = {w.path: (w.reason, w.skipped) for w in warnings}
    assert reasons == {
        "alias.py": ("symlink to pkg/impl.py, compared as pkg/impl.py", False),
        "passwd.py": ("symlink to a target outside the repository", True),
        "up.py": ("symlink to a target outside the repository", True),
    }


def test_file_name_that_is_not_utf8(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "ok.py").write_text("A = 1\n")
    os.close(os.open(os.fsencode(folder) + b"/bad\xff.py", os.O_CREAT | os.O_WRONLY, 0o644))
    files, warnings = read_files(folder_source(settings, folder), settings, "b")
    assert paths(files) == ["ok.py"]
    assert [(w.path, w.reason) for w in warnings] == [
        ("bad\ufffd.py", "file name is not valid UTF-8")
    ]
    json.dumps([w.path for w in warnings])  # every path can be written into the JSON result


def test_too_many_files_are_capped_with_a_warning(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "plain"
    write(folder, {f"m{i}.py": f"X = {i}\n" for i in range(5)})
    monkeypatch.setattr(sources, "MAX_FILES", 3)
    files, warnings = read_files(folder_source(settings, folder), settings, "b")
    assert paths(files) == ["m0.py", "m1.py", "m2.py"]
    assert [(w.path, w.skipped) for w in warnings] == [(None, True)]
    assert "only the first 3" in warnings[0].reason


# --- notebooks -----------------------------------------------------------------------------------


def notebook_v4(cells: list[dict[str, object]], language: str = "python") -> bytes:
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "language": language}},
            "cells": cells,
        }
    ).encode()


def code(source: str | list[str], outputs: list[object] | None = None) -> dict[str, object]:
    return {"cell_type": "code", "source": source, "outputs": outputs or [], "metadata": {}}


def test_notebook_keeps_only_code_and_maps_lines_to_cells(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "nb"
    raw = notebook_v4(
        [
            {"cell_type": "markdown", "source": ["# Title\n", "text"], "metadata": {}},
            code(
                ["%matplotlib inline\n", "import torch\n", "!pip install x\n", "x = 1"],
                outputs=[{"output_type": "stream", "text": ["OUTPUT_TEXT\n"]}],
            ),
            code("def f(a):\n    return a\nf?\n"),
            {"cell_type": "raw", "source": "RAW_TEXT", "metadata": {}},
            code("%%bash\necho hi\nls"),
            code(["%%time\n", "y = f(2)\n", "files = !ls\n", "s = ('%d'\n", "     % y)"]),
        ]
    )
    write(folder, {"demo.ipynb": raw})
    files, warnings = read_files(folder_source(settings, folder), settings, "b")
    assert warnings == []
    (nb,) = files
    assert nb.kind == "notebook"
    assert nb.sha256 == hashlib.sha256(raw).hexdigest()
    assert nb.size == len(raw)
    lines = nb.text.split("\n")
    assert nb.cell_starts == (1, 6, 10, 14)
    assert nb.cell_numbers == (2, 3, 5, 6)  # the markdown and raw cells count as a reader counts
    assert lines[0:4] == ["", "import torch", "", "x = 1"]
    assert lines[4] == ""
    assert lines[5:8] == ["def f(a):", "    return a", ""]
    assert lines[9:12] == ["", "", ""]  # the %%bash cell, blanked line for line
    assert lines[13:18] == ["", "y = f(2)", "", "s = ('%d'", "     % y)"]
    for absent in ("OUTPUT_TEXT", "RAW_TEXT", "Title", "pip", "echo"):
        assert absent not in nb.text
    compile(nb.text, "demo.ipynb", "exec")  # what is left is Python


def test_notebook_format_3_and_string_sources(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "nb"
    raw = json.dumps(
        {
            "nbformat": 3,
            "metadata": {"name": "old"},
            "worksheets": [
                {
                    "cells": [
                        {"cell_type": "code", "input": ["a = 1\n", "b = 2"], "language": "python"},
                        {"cell_type": "markdown", "source": "no"},
                    ]
                },
                {"cells": [{"cell_type": "code", "input": "c = 3\n"}]},
            ],
        }
    ).encode()
    write(folder, {"old.ipynb": raw})
    (nb,), _ = read_files(folder_source(settings, folder), settings, "b")
    assert nb.text == "a = 1\nb = 2\n\nc = 3\n"
    assert nb.cell_starts == (1, 4)
    assert nb.cell_numbers == (1, 3)  # worksheets read as one list of cells


@pytest.mark.parametrize(
    ("cell", "kept"),
    [
        # Inside a multi-line string or brackets a leading `%`/`!` is Python, not IPython.
        (['doc = """\n', "!important\n", '%s"""'], [True, True, True]),
        (["x = f(a,\n", "      !b)"], [True, True]),
        (["y = 1 + \\\n", "    %x"], [True, True]),
        (["s = '#'  # %\n", "%who"], [True, False]),
        (["np.*load*?\n", "??len\n", "what = 'is this?'"], [False, False, True]),
        # A cell saved as a Python file is Python; saved as anything else, it is not.
        (["%%writefile -a helper.py\n", "def helper():\n", "    pass"], [False, True, True]),
        (["%%writefile run.sh\n", "python train.py\n", "echo done"], [False, False, False]),
    ],
)
def test_ipython_lines_are_blanked_only_at_statement_starts(
    cell: list[str], kept: list[bool]
) -> None:
    from plagiarism.notebooks import extract_code

    text = extract_code(notebook_v4([code(cell)])).text
    lines = text.split("\n")[: len(cell)]
    assert [line != "" for line in lines] == kept
    assert [line for line in lines if line] == [
        part.rstrip("\n") for part, keep in zip(cell, kept, strict=True) if keep
    ]


def test_broken_and_foreign_notebooks_are_skipped(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "nb"
    write(
        folder,
        {
            "broken.ipynb": '{"cells": [',
            "r.ipynb": notebook_v4([code("x <- 1")], language="R"),
            "big.ipynb": notebook_v4([code("x = 1")], language="python"),
            "list.ipynb": "[1, 2]",
            "good.ipynb": notebook_v4([code("x = 1")]),
        },
    )
    (folder / "big.ipynb").write_bytes((folder / "big.ipynb").read_bytes() + b" " * 5000)
    small = settings.with_overrides(max_notebook_bytes=4000)
    files, warnings = read_files(folder_source(small, folder), small, "b")
    assert paths(files) == ["good.ipynb"]
    w = by_path(warnings)
    assert w["broken.ipynb"].reason.startswith("notebook is not valid JSON: ")
    assert w["r.ipynb"].reason == "notebook language is 'R', not Python"
    assert w["big.ipynb"].reason == "larger than 4000 bytes"
    assert w["list.ipynb"].reason == "notebook is not a JSON object"
    assert all(x.skipped for x in warnings)
