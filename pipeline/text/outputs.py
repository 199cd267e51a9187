"""Where results are written: targets checked before any work, files and folders written atomically.

A folder is written beside its target (``.NAME.partial-*``) and renamed into place, so a run killed
at any moment leaves the target absent, as it was, or complete, never partial; a folder that is
replaced goes whole, so no stale file of an earlier run stays beside the new ones. A file is written
beside itself and renamed over. What a mistake would destroy is refused in one line: the filesystem
root, the home folder, a folder holding the store, a non-empty folder that is not an earlier output
of the same kind (unless ``overwrite``), a special file such as ``/dev/null``, a path under a file.

>>> with atomic_folder(Path("curated"), owned=lambda folder: False) as folder:
...     _ = (folder / "pairs.jsonl").write_text("{}")
>>> sorted(p.name for p in Path("curated").iterdir())
['pairs.jsonl']
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import UsageError


def _existing_ancestor(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path("/")


def check_folder(out: Path, owned: Callable[[Path], bool], overwrite: bool = False,
                 keep: tuple[Path, ...] = (), option: str = "--out") -> None:
    """Refuse, in one line, a folder that writing ``out`` whole would wrongly replace or cannot create.

    ``owned(out)`` says whether a non-empty ``out`` is an earlier output of the same kind (replaced
    without asking); ``keep`` are paths (the store) that must not lie inside ``out``.
    """
    where = out.resolve()
    if where in (Path("/"), Path.home().resolve()):
        raise UsageError(f"{option}: {out} is {'the filesystem root' if where == Path('/') else 'your home folder'}; "
                         "name a folder of its own")
    for path in keep:
        if path.resolve().is_relative_to(where):
            raise UsageError(f"{option}: {out} holds {path}; writing it whole would replace it, name another folder")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{option}: {out} is a file, not a folder")
    ancestor = _existing_ancestor(where)
    if not out.exists() and not ancestor.is_dir():
        raise UsageError(f"{option}: {out} would be under {ancestor}, which is a file")
    if not os.access(out if out.exists() else ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{option}: {out if out.exists() else ancestor} is not writable")
    if out.is_dir() and any(out.iterdir()) and not overwrite and not owned(out):
        raise UsageError(f"{option}: {out} is not empty and holds no earlier output of this kind; choose an empty "
                         "folder, or pass --overwrite to replace it whole")


@contextmanager
def atomic_folder(out: Path, owned: Callable[[Path], bool], overwrite: bool = False,
                  keep: tuple[Path, ...] = (), option: str = "--out") -> Iterator[Path]:
    """Yield a fresh folder beside ``out`` to write into; on success it replaces ``out`` whole (a link to a
    folder stays a link: the folder it points to is replaced)."""
    out = Path(out)
    if out.is_symlink():
        out = out.resolve()
    check_folder(out, owned, overwrite, keep, option)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.partial-*"):  # left by a run that was killed
        shutil.rmtree(stale, ignore_errors=True)
    partial = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        yield partial
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        if out.exists():
            out.rename(old)
        partial.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def check_file(path: Path, option: str) -> None:
    """Refuse, in one line, a file target that is a folder, a special file or under a file."""
    if path.is_dir():
        raise UsageError(f"{option}: {path} is a folder; name a file")
    if path.exists() and not path.is_file():
        raise UsageError(f"{option}: {path} is not a regular file (a device or pipe); name a file")
    ancestor = _existing_ancestor(path.resolve())
    if not path.exists() and not ancestor.is_dir():
        raise UsageError(f"{option}: {path} would be under {ancestor}, which is a file")
    if not os.access(path.parent if path.parent.exists() else ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{option}: {path.parent} is not writable")


@contextmanager
def atomic_file(path: Path, option: str) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success it replaces ``path``."""
    path = Path(path)
    check_file(path, option)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


HUB = "hub"  # the folder of an export that is a Hugging Face Hub dataset repo


def hub_data_file(config: str, split: str) -> str:
    """Where ``push_to_hub`` keeps one split of one config, inside the repo.

    >>> hub_data_file("pairs", "test")
    'data/pairs/test-00000-of-00001.parquet'
    """
    return f"data/{config}/{split}-00000-of-00001.parquet"
