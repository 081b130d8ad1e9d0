"""Safe file handling for every job that rewrites a workbook: checks, a lock, backup, atomic replace."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cptbill.errors import CptbillError

#: Writes the new file's bytes to an open binary stream.
Writer = Callable[[BinaryIO], object]

#: Seconds a second cptbill run on the same workbook waits for the first one to finish.
LOCK_WAIT = 5.0
#: Temporary files of cptbill's saves start with this (hidden on macOS and Linux).
TEMP_PREFIX = ".~cptbill-"
#: Another workbook's temporary file older than this (seconds) is left over from an interrupted run.
STALE_AFTER = 3600.0
_POLL = 0.1


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


def readable(path: Path | str) -> Path:
    """The workbook file behind `path` (links followed), refused before opening unless a regular file.

    A named pipe would make a reader wait forever and a link to a device such as /dev/zero
    would fill the memory, so only plain files are ever opened.
    """
    path = Path(path)
    try:
        real = path.resolve(strict=True)
        info = real.stat()
    except FileNotFoundError:
        raise CptbillError(f"No such file: {path}.") from None
    except (OSError, RuntimeError) as error:  # a loop of links, a folder that may not be read
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "a loop of links"
        raise CptbillError(f"{path} cannot be opened ({reason}).") from None
    if stat.S_ISDIR(info.st_mode):
        raise CptbillError(f"{path} is a folder, not a workbook.")
    if not stat.S_ISREG(info.st_mode):
        raise CptbillError(
            f"{path.name} is not a workbook file (it is a device, a pipe or another special file)."
        )
    return real


@dataclass
class Update:
    """A job's hold on a workbook: the file to read, and `save` to replace the target safely."""

    source: Path  # the real file to read (links followed)
    target: Path  # the real file to replace: the source, or the --out file
    _before: tuple[Fingerprint | None, Fingerprint | None]

    def save(self, write: Writer) -> Path | None:
        """Write the new workbook over the target (atomically); return the backup of the old one.

        Refused, with every file left as it was, when the source or the target changed since
        the job read it (another program saved it meanwhile).
        """
        for path, before in zip((self.source, self.target), self._before, strict=True):
            if before is not None and not before.same(path):
                raise CptbillError(
                    f"{path.name} was changed by another program while cptbill was working on it, "
                    "so nothing was saved (the other program's changes are kept); run cptbill again."
                )
        try:
            return replace_atomically(self.target, write)
        except OSError as error:
            if error.errno is None:
                raise
            raise save_error(self.target, error) from None


@contextlib.contextmanager
def updating(path: Path | str, out: Path | str | None = None) -> Iterator[Update]:
    """Everything a job that rewrites a workbook needs, checked before the job reads anything.

    Follows links (the real file is replaced, not the link), refuses what cannot be replaced
    safely (a special file, a workbook open in Excel, a read-only workbook or folder), waits
    up to LOCK_WAIT seconds for another cptbill run on the same workbook, removes the
    temporary files of earlier interrupted runs, and notes the files as they are, so that
    `save` can refuse to overwrite changes another program made meanwhile.
    """
    given = Path(path)
    source = readable(given)
    target = source if out is None else _real_target(Path(out))
    for shown in dict.fromkeys((given if out is None else Path(out), target)):
        refuse_if_open(shown)
    _refuse_unwritable(target)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(_locked(target))
            remove_stale_temps(target)
            before = (Fingerprint.of(source), Fingerprint.of(target) if target != source else None)
        except OSError as error:  # the lock file could not be made: a read-only or full disk
            if error.errno is None:
                raise
            raise save_error(target, error) from None
        yield Update(source=source, target=target, _before=before)


def _real_target(out: Path) -> Path:
    """Where --out really writes: links followed; an existing special file refused."""
    real = out.resolve()
    if real.exists() and not real.is_file():
        raise CptbillError(f"--out {out} is not a workbook file.")
    return real


def _refuse_unwritable(target: Path) -> None:
    """Refuse a read-only folder, a read-only workbook and a backup that cannot be replaced."""
    folder = target.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CptbillError(
            f"cptbill may not write in the folder {folder} (it is read-only), where the new version "
            f"and the backup of {target.name} go; nothing was changed."
        )
    with contextlib.suppress(FileNotFoundError):
        info = target.stat()
        if not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
            raise CptbillError(
                f"{target.name}: the workbook is read-only; make it writable (in its file properties) "
                "or write a copy with --out NEW.xlsx, and try again."
            )
    backup = backup_path(target)
    if backup.exists() and not backup.is_file():
        raise CptbillError(
            f"{backup.name} is in the way of the backup of {target.name} (it is not a plain file); "
            "move it away and try again."
        )


def save_error(target: Path, error: OSError) -> CptbillError:
    """One sentence for a save the operating system refused; the workbook is left as it was."""
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return CptbillError(
            f"The disk is full, so {target.name} was not saved and is left as it was; "
            "free some space and try again."
        )
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return CptbillError(
            f"cptbill may not write in the folder {target.parent} (or replace {target.name} or its "
            "backup there), so nothing was saved; check the folder's permissions, or close the "
            "program that holds the file, and try again."
        )
    reason = error.strerror or type(error).__name__
    return CptbillError(f"{target.name} could not be saved ({reason}) and is left as it was.")


# ---------------------------------------------------------------------------------------------
# Noticing changes made by other programs


@dataclass(frozen=True)
class Fingerprint:
    """A file's size, modification time and content hash, to tell whether it changed."""

    size: int
    mtime_ns: int
    digest: bytes

    @classmethod
    def of(cls, path: Path) -> Fingerprint | None:
        try:
            info = path.stat()
            return cls(info.st_size, info.st_mtime_ns, _digest(path))
        except FileNotFoundError:
            return None

    def same(self, path: Path) -> bool:
        """Whether `path` still holds these bytes (a file saved again unchanged counts as the same)."""
        try:
            info = path.stat()
        except FileNotFoundError:
            return False
        if info.st_size != self.size:
            return False
        return info.st_mtime_ns == self.mtime_ns or _digest(path) == self.digest


def _digest(path: Path) -> bytes:
    hasher = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            hasher.update(chunk)
    return hasher.digest()


# ---------------------------------------------------------------------------------------------
# One cptbill run per workbook


def lock_path(target: Path) -> Path:
    """The lock file of one workbook: hidden beside it, there only while a run holds it."""
    return target.with_name(f".~cptbill.{target.name.casefold()}.lock")


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Hold the workbook's advisory lock, waiting up to LOCK_WAIT seconds for another run."""
    path = lock_path(target)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            held = _try_lock(fd)
        except OSError:  # a file system without locks (some network shares): the re-check still guards
            held = None
        if held is None:
            os.close(fd)
            yield
            return
        if held:
            # The run before may have removed the lock file after this one opened it.
            try:
                current = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                current = False
            if current:
                break
            _unlock(fd)
        os.close(fd)
        if time.monotonic() >= deadline:
            raise CptbillError(
                f"Another cptbill is working on {target.name}; wait until it has finished and try again."
            )
        time.sleep(_POLL)
    try:
        yield
    finally:
        _release(fd, path)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except PermissionError:
            return False
        except OSError as error:
            if error.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

    def _release(fd: int, path: Path) -> None:
        _unlock(fd)
        os.close(fd)
        with contextlib.suppress(OSError):  # another run has it open already: it stays
            path.unlink()

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

    def _release(fd: int, path: Path) -> None:
        with contextlib.suppress(OSError):  # removed while held: a waiting run sees it is gone
            path.unlink()
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Temporary files, backup and the atomic replace


def _temp_prefix(target: Path) -> str:
    """Temporary files name their workbook (by a short hash), so a later run knows its own."""
    tag = hashlib.blake2b(target.name.casefold().encode(), digest_size=4).hexdigest()
    return f"{TEMP_PREFIX}{tag}-"


def remove_stale_temps(target: Path) -> list[str]:
    """Remove the temporary files interrupted runs left beside `target`; return their names.

    Called with the workbook's lock held: every temporary file of this workbook is then
    left over. Other workbooks' temporary files are removed only once STALE_AFTER old.
    """
    own = _temp_prefix(target)
    now = time.time()
    removed = []
    with os.scandir(target.parent) as entries:
        for entry in entries:
            if not entry.name.startswith(TEMP_PREFIX):
                continue
            with contextlib.suppress(OSError):
                if not entry.is_file(follow_symlinks=False):
                    continue
                if (
                    entry.name.startswith(own)
                    or now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER
                ):
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return removed


def replace_atomically(target: Path, write: Writer, *, backup: bool = True) -> Path | None:
    """Write to a temporary file beside `target`, then replace it; return the backup of the old one.

    The new file gets the old one's permissions and, where allowed, its owner and group; a new
    file gets the permissions the user's umask gives. `backup=False` keeps no previous version.
    """
    handle, name = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=target.suffix, dir=target.parent)
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        kept = None
        if target.exists():
            _keep_owner(target, temp)
            if backup:
                kept = backup_path(target)
                _keep_copy(target, kept)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, target)
        _fsync_folder(target.parent)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return kept


def _keep_owner(source: Path, temp: Path) -> None:
    """Give `temp` the permissions, owner and group of `source` (owner: only where allowed)."""
    shutil.copymode(source, temp)
    if hasattr(os, "chown"):
        info, mine = source.stat(), temp.stat()
        if (info.st_uid, info.st_gid) != (mine.st_uid, mine.st_gid):
            try:
                os.chown(temp, info.st_uid, info.st_gid)
            except OSError:  # only root may give a file away; a member of the group keeps the group
                with contextlib.suppress(OSError):
                    os.chown(temp, -1, info.st_gid)


def _keep_copy(source: Path, backup: Path) -> None:
    """Put the current file at `backup` (a hard link when the file system allows, else a copy)."""
    handle, name = tempfile.mkstemp(prefix=_temp_prefix(source), suffix=source.suffix, dir=source.parent)
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
