"""Safe file handling for every job that rewrites a workbook: lock files, backup, atomic replace."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from cptbill.errors import CptbillError

#: Writes the new file's bytes to an open binary stream.
Writer = Callable[[BinaryIO], None]


def backup_path(path: Path) -> Path:
    """Where the previous version of `path` is kept: `name.bak.xlsx` beside it."""
    return path.with_name(f"{path.stem}.bak{path.suffix}")


def refuse_if_open(path: Path) -> None:
    """Refuse a workbook that Excel or LibreOffice has open (their lock file is beside it)."""
    for lock in (path.with_name(f"~${path.name}"), path.with_name(f".~lock.{path.name}#")):
        if lock.exists():
            raise CptbillError(
                f"{path.name} is open in a spreadsheet program (lock file {lock.name} is present); "
                "close it there, or delete the lock file if the program is not running, and try again."
            )


def replace_atomically(target: Path, write: Writer) -> Path | None:
    """Write to a temporary file beside `target`, then replace it; return the backup of the old one."""
    handle, name = tempfile.mkstemp(prefix=".~cptbill-", suffix=target.suffix, dir=target.parent)
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        backup = None
        if target.exists():
            shutil.copymode(target, temp)
            backup = backup_path(target)
            _keep_copy(target, backup)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, target)
        _fsync_folder(target.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return backup


def _keep_copy(source: Path, backup: Path) -> None:
    """Put the current file at `backup` (a hard link when the file system allows, else a copy)."""
    handle, name = tempfile.mkstemp(prefix=".~cptbill-", suffix=source.suffix, dir=source.parent)
    os.close(handle)
    temp = Path(name)
    try:
        temp.unlink()
        try:
            os.link(source, temp)
        except OSError:
            shutil.copy2(source, temp)
        os.replace(temp, backup)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
