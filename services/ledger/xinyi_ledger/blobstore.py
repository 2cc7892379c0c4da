"""Where voucher files live, addressed by their sha256: local disk for one node, S3 for several
(`s3store`, imported only where it is chosen: the SDK adds about 12 MiB to a process)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import uuid
from pathlib import Path
from typing import Protocol


class BlobMissing(LookupError):
    """The store has no file under that address."""


class BlobCorrupt(ValueError):
    """The stored bytes no longer hash to their address."""


class BlobStore(Protocol):
    async def put(
        self, estate_id: uuid.UUID, sha256: str, content: bytes, media_type: str
    ) -> None: ...

    async def get(self, estate_id: uuid.UUID, sha256: str) -> bytes: ...

    async def close(self) -> None: ...


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def check(sha256: str, content: bytes) -> None:
    if sha256_hex(content) != sha256:
        raise BlobCorrupt(f"the bytes stored as {sha256} hash to something else")


class DiskStore:
    """Files at `<root>/ab/cd/<sha256>`, written whole or not at all (temp file, fsync, rename).

    The same bytes of two estates share one file: access is decided by the metadata rows,
    which are per estate, never by the path.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def put(self, estate_id: uuid.UUID, sha256: str, content: bytes, media_type: str) -> None:
        check(sha256, content)
        await asyncio.to_thread(self._write, sha256, content)

    def _write(self, sha256: str, content: bytes) -> None:
        target = self.path(sha256)
        with contextlib.suppress(FileNotFoundError):
            if sha256_hex(target.read_bytes()) == sha256:
                return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o444)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        # The rename is durable only once the directory entry is on disk too.
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def get(self, estate_id: uuid.UUID, sha256: str) -> bytes:
        try:
            content = await asyncio.to_thread(self.path(sha256).read_bytes)
        except FileNotFoundError:
            raise BlobMissing(f"no file {sha256} under {self.root}") from None
        check(sha256, content)
        return content

    async def close(self) -> None:
        return None
