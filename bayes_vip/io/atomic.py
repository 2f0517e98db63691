"""Atomic writes of one file, and of a set of files that belong together.

- ``atomic_path``: write to a temporary file in the same folder, then rename it.
- ``result_set``: write several files (a posterior, the limits drawn from it and their
  figures) into a staging folder, then move them in as one set. A commit journal makes the
  set whole after a crash: a crash before the journal leaves the previous set, one after it
  is rolled forward by the next ``recover``, so the folder never holds a mix.
- ``recover``: finish an interrupted commit and remove the temporary files and staging
  folders of processes that are gone (their names carry the writer's process id).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["JOURNAL", "atomic_path", "recover", "result_set", "sha256", "write_json"]

#: The commit journal of a result set in its folder: the staging folder and the file names.
JOURNAL = ".result-set.json"
#: The name of a temporary file or staging folder: ``.NAME.PID-RANDOM.tmp``.
_TEMPORARY = re.compile(r"^\..*\.tmp$")
_WRITER = re.compile(r"\.(\d+)-[A-Za-z0-9_]+\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _orphaned(name: str) -> bool:
    """Whether a temporary name belongs to no running process (older names carry no pid)."""
    m = _WRITER.search(name)
    return m is None or not _alive(int(m.group(1)))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    On an exception the temporary file is removed and ``path`` is left untouched, so a
    crash never leaves a half-written result (a kill leaves the temporary file, which
    ``recover`` removes later).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: str | os.PathLike, obj: object) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")


def sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _roll_forward(folder: Path) -> None:
    """Move the journal's files from their staging folder into ``folder``; drop the journal."""
    journal = folder / JOURNAL
    rec = json.loads(journal.read_text(encoding="utf-8"))  # written atomically: whole
    stage = folder / rec["stage"]
    for name in rec["files"]:
        if (stage / name).exists():  # gone: moved before the crash
            os.replace(stage / name, folder / name)
    shutil.rmtree(stage, ignore_errors=True)
    journal.unlink()


def recover(folder: str | os.PathLike) -> list[str]:
    """Make ``folder`` whole: finish an interrupted set, remove orphaned temporary files.

    Looks in ``folder`` and its subfolders (the studies' stores). Returns the names removed
    (relative to ``folder``). Temporary files of running processes are left alone.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    if (folder / JOURNAL).is_file():
        _roll_forward(folder)
    removed = []
    for sub in (folder, *(p for p in folder.iterdir() if p.is_dir() and p.name[0] != ".")):
        for p in sub.iterdir():
            if _TEMPORARY.match(p.name) and _orphaned(p.name):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                removed.append(str(p.relative_to(folder)))
    return removed


@contextlib.contextmanager
def result_set(folder: str | os.PathLike) -> Iterator[Path]:
    """Yield a staging folder; when the block succeeds, its files replace those in ``folder``.

    Every file written into the staging folder is moved into ``folder`` as one set (a file
    of the same name there is replaced; other files are kept). On an exception nothing in
    ``folder`` changes. Use ``atomic_path`` inside the staging folder as anywhere else.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    recover(folder)
    stage = Path(tempfile.mkdtemp(prefix=f".set.{os.getpid()}-", suffix=".tmp", dir=folder))
    try:
        yield stage
        names = sorted(p.name for p in stage.iterdir() if p.is_file() and p.name[0] != ".")
        write_json(folder / JOURNAL, {"stage": stage.name, "files": names})
        _roll_forward(folder)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
