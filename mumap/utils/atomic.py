"""Writes that never leave a half-written file or folder: the one way mumap writes its outputs.

:func:`atomic_path` hands out a temporary sibling of the target (same folder, so the final rename never
crosses file systems); the caller writes a file or builds a folder there; on success it is renamed onto
the target (:func:`os.replace`), on an exception it is removed. A process killed mid-write leaves only
the temporary sibling, which the next write to the same target removes first. The default temporary
name, ``.tmp-<name>``, is hidden and keeps the target's extension, which writers that choose the format
by it (nibabel, matplotlib) need.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TMP_PREFIX = ".tmp-"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_path(path: str | Path, *, overwrite: bool = False, tmp_name: str | None = None) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` (nothing there yet; its parent folders exist) to write a file
    or build a folder at; rename it onto ``path`` when the block succeeds, remove it when it raises.

    A file target is replaced atomically. A folder cannot replace an existing one in one step: with
    ``overwrite`` the existing target is removed just before the rename, otherwise :class:`FileExistsError`
    is raised (and the temporary removed). ``tmp_name`` overrides the temporary's name ``.tmp-<name>``
    for callers whose clean-up of killed runs looks for another name.
    """
    path = Path(path)
    tmp = path.with_name(tmp_name or TMP_PREFIX + path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove(tmp)  # left by a killed write
    try:
        yield tmp
        if tmp.is_dir() and path.exists():
            if not overwrite:
                raise FileExistsError(f"{path}: already exists")
            _remove(path)
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt too: never leave the temporary behind
        _remove(tmp)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv_atomic(path: str | Path, rows: list[dict]) -> Path:
    """Rows (dicts with the same keys, the first row's order gives the columns) as CSV, written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [])
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())
