"""Atomic file writes: a file is either the old one or the complete new one, never half.

Write to a temporary file in the same folder, flush it to disk, then ``os.replace`` it over
the target (an atomic rename on POSIX and Windows). A process killed midway leaves at most a
stray ``.NAME.*.tmp`` file beside an intact previous version (:func:`remove_stray_temporaries`
clears them). The rename replaces a symbolic link at the target by the new file: a link planted
there is never written through. New files get the permissions ``open()`` would give them
(``0o666`` less the process's umask), not ``mkstemp``'s private ``0o600``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path. Creates parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_SUFFIX, dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def remove_stray_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that writes killed midway left in ``folder`` (not below);
    returns what was removed. Call it only while no other process writes there (e.g. under
    the run folder's lock)."""
    removed = []
    for stray in Path(folder).glob(f".*{_SUFFIX}"):
        if stray.is_file() and not stray.is_symlink():
            stray.unlink(missing_ok=True)
            removed.append(stray)
    return removed


_SUFFIX = ".tmp"


def _umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (the only portable way to read it)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    # Make the rename itself durable; not possible (nor needed) on every platform.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FolderLock:
    """An exclusive, advisory lock on a folder between processes: the file ``folder/.lock``,
    locked with ``flock`` (POSIX) and holding the owner's PID.

    ``acquire()`` refuses at once, with :class:`~chainrule.errors.FolderLockedError` naming the
    PID of the holder, when another process (or another ``FolderLock`` on the same folder)
    holds it. A lock left by a killed process is free: the system drops a ``flock`` when its
    process dies, so the next ``acquire()`` takes it over. ``release()`` deletes the file.
    Re-entrant: nested ``acquire()`` calls on the same object need as many ``release()``.
    Where ``flock`` does not exist, a lock whose PID is no longer running is taken over. With
    ``active=False`` it only counts (for processes that share a folder another one locks,
    e.g. the ranks but 0 of a distributed run).
    """

    NAME = ".lock"

    def __init__(self, folder: str | Path, what: str = "folder", *, active: bool = True) -> None:
        self.path = Path(folder) / self.NAME
        self.what = what
        self.active = bool(active)
        self._fd: int | None = None
        self._depth = 0

    def acquire(self) -> FolderLock:
        """Take the lock (or nest once more); returns ``self``."""
        if self._depth or not self.active:
            self._depth += 1
            return self
        for _ in range(100):  # retried only when a holder released (deleted) the file meanwhile
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
            if not _try_lock(fd, self.path):
                os.close(fd)
                self._refuse()
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd, self._depth = fd, 1
            return self
        raise OSError(f"could not lock {self.path}")  # pragma: no cover - pathological churn

    def release(self) -> None:
        """Undo one :meth:`acquire`; the last one deletes the lock file and unlocks."""
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._depth > 0

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _refuse(self) -> None:
        from chainrule.errors import FolderLockedError

        pid = _holder(self.path)
        who = f"process {pid}" if pid else "another process"
        raise FolderLockedError(
            f"{self.what} {self.path.parent} is in use by {who} (lock file {self.path}); "
            "wait for it to end, or stop it"
        )


def _holder(path: Path) -> int | None:
    for _ in range(50):  # the holder writes its PID just after locking: wait a moment for it
        try:
            text = path.read_text().strip()
        except OSError:
            return None
        if text.isdigit():
            return int(text)
        time.sleep(0.01)
    return None


def _try_lock(fd: int, path: Path) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: exclusive creation and PID liveness
        return _try_pid_lock(fd, path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _try_pid_lock(fd: int, path: Path) -> bool:  # pragma: no cover - no flock on this system
    pid = _holder(path)
    if pid is None or pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True  # its process is gone: take the lock over
    except OSError:
        return False
    return False
