"""The one clock of the platform; tests may move it through a shared offset file."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path


class Clock:
    """Real UTC time, plus an offset read from `offset_file` when one is configured.

    The offset file is how tests move time in every process at once (announcement periods,
    objection windows, month ends): it holds a number of seconds. Each call looks at the file
    (one `stat`) and reads it again when it is another file: `move_clock` replaces it, so every
    move gives it a new inode. Its modification time alone is too coarse to tell two moves a few
    milliseconds apart (a process would keep the older offset, and an authenticator code
    computed on the newer one would not match); reading it on every call cost a few per cent of
    a service's CPU under the benchmarks, which run on a movable clock.
    """

    def __init__(self, offset_file: str | None = None) -> None:
        self._file = Path(offset_file) if offset_file else None
        self._offset = timedelta(0)
        self._seen: tuple[int, int, int] | None = None  # the file read: inode, mtime, size

    @property
    def movable(self) -> bool:
        return self._file is not None

    def now(self) -> datetime:
        if self._file is not None:
            self._refresh()
        return datetime.now(UTC) + self._offset

    def _refresh(self) -> None:
        assert self._file is not None
        try:
            seen = os.stat(self._file)
        except FileNotFoundError:
            self._offset, self._seen = timedelta(0), None
            return
        key = (seen.st_ino, seen.st_mtime_ns, seen.st_size)
        if key == self._seen:
            return
        try:
            text = self._file.read_text().strip()
        except FileNotFoundError:  # replaced in between: the next call reads the new one
            return
        # Replaced again in between, this text may be the newer one's, kept under the older
        # key: the next call then sees another key and reads once more.
        self._offset, self._seen = timedelta(seconds=float(text or 0)), key


def move_clock(offset_file: str | Path, seconds: float) -> None:
    """Sets the shared offset (tests only): every process using this file sees the new time."""
    path = Path(offset_file)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(repr(float(seconds)))
    os.replace(tmp, path)


_clock = Clock(os.environ.get("XINYI_TEST_CLOCK_FILE") or None)


def install(clock: Clock) -> None:
    """Replaces the process clock (the service kit does this once at start, from settings)."""
    global _clock
    _clock = clock


def now() -> datetime:
    return _clock.now()
