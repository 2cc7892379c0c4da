"""The voucher stores: disk files written whole or not at all, and S3 objects on a real
S3-compatible server (moto's, started here as its own process and spoken to over HTTP)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from xinyi_kit.errors import Unavailable
from xinyi_ledger.blobstore import BlobCorrupt, BlobMissing, DiskStore, sha256_hex
from xinyi_ledger.s3store import S3Store

ESTATE = uuid.UUID("11111111-2222-3333-4444-555555555555")
CONTENT = b"%PDF-1.4\n% a voucher\n" + os.urandom(64)
SHA = sha256_hex(CONTENT)


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob(".part-*")]


def test_a_ledger_on_disk_vouchers_does_not_load_the_s3_sdk() -> None:
    # The SDK is about 12 MiB of the ledger's resident size; it is imported where S3 is chosen.
    script = (
        "import sys, xinyi_ledger.main; "
        "print(sorted(m for m in ('aiobotocore', 'botocore') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


async def test_disk_store_writes_content_addressed_and_reads_back(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    await store.put(ESTATE, SHA, CONTENT, "application/pdf")
    path = tmp_path / SHA[:2] / SHA[2:4] / SHA
    assert path.read_bytes() == CONTENT
    assert not path.stat().st_mode & 0o222, "a stored voucher is read-only"
    assert await store.get(ESTATE, SHA) == CONTENT
    # The same bytes again (from another estate too) change nothing and leave nothing behind.
    await store.put(uuid.uuid4(), SHA, CONTENT, "application/pdf")
    assert await store.get(uuid.uuid4(), SHA) == CONTENT
    assert leftovers(tmp_path) == []


async def test_disk_store_refuses_bytes_that_do_not_hash_to_their_address(tmp_path: Path) -> None:
    store = DiskStore(tmp_path)
    with pytest.raises(BlobCorrupt):
        await store.put(ESTATE, SHA, CONTENT + b"x", "application/pdf")
    assert not any(tmp_path.rglob(SHA))


async def test_disk_store_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BlobMissing, match=f"no file {SHA}"):
        await DiskStore(tmp_path).get(ESTATE, SHA)


async def test_disk_store_detects_a_file_changed_on_disk_and_a_put_repairs_it(
    tmp_path: Path,
) -> None:
    store = DiskStore(tmp_path)
    await store.put(ESTATE, SHA, CONTENT, "application/pdf")
    path = store.path(SHA)
    path.chmod(0o644)
    # The last byte flipped: never the same bytes (a fixed "!" was, once in 256 runs, the
    # random content's own last byte, and the test failed).
    path.write_bytes(CONTENT[:-1] + bytes([CONTENT[-1] ^ 0xFF]))
    with pytest.raises(BlobCorrupt):
        await store.get(ESTATE, SHA)
    await store.put(ESTATE, SHA, CONTENT, "application/pdf")
    assert await store.get(ESTATE, SHA) == CONTENT


async def test_a_write_that_fails_midway_leaves_no_file_at_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    store = DiskStore(tmp_path)
    with pytest.raises(OSError, match="No space"):
        await store.put(ESTATE, SHA, CONTENT, "application/pdf")
    assert not store.path(SHA).exists()
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    with pytest.raises(BlobMissing):
        await store.get(ESTATE, SHA)


# -- S3 ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the S3 server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def bucket(endpoint: str) -> tuple[str, object]:
    name = f"vouchers-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=name)
    return name, client


def s3_store(endpoint: str, name: str) -> S3Store:
    return S3Store(
        endpoint=endpoint, bucket=name, region="us-east-1", access_key="test", secret_key="test"
    )


async def test_s3_store_keeps_each_estate_s_file_under_its_own_key(s3_endpoint: str) -> None:
    name, client = bucket(s3_endpoint)
    store = s3_store(s3_endpoint, name)
    try:
        await store.put(ESTATE, SHA, CONTENT, "application/pdf")
        await store.put(ESTATE, SHA, CONTENT, "application/pdf")  # the same bytes: no change
        assert await store.get(ESTATE, SHA) == CONTENT
        head = client.head_object(Bucket=name, Key=f"{ESTATE}/{SHA}")  # type: ignore[attr-defined]
        assert head["ContentType"] == "application/pdf"
        assert head["ContentLength"] == len(CONTENT)
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]]  # type: ignore[attr-defined]
        assert keys == [f"{ESTATE}/{SHA}"]
        with pytest.raises(BlobMissing, match=f"no object {uuid.UUID(int=7)}/{SHA}"):
            await store.get(uuid.UUID(int=7), SHA)
        # Bytes changed behind the store's back are caught on the way out.
        client.put_object(Bucket=name, Key=f"{ESTATE}/{SHA}", Body=CONTENT + b"!")  # type: ignore[attr-defined]
        with pytest.raises(BlobCorrupt):
            await store.get(ESTATE, SHA)
    finally:
        await store.close()


async def test_s3_store_says_when_its_bucket_is_missing_or_the_server_unreachable(
    s3_endpoint: str,
) -> None:
    store = s3_store(s3_endpoint, "no-such-bucket")
    try:
        with pytest.raises(RuntimeError, match="bucket 'no-such-bucket' does not exist"):
            await store.put(ESTATE, SHA, CONTENT, "application/pdf")
    finally:
        await store.close()
    gone = s3_store(f"http://127.0.0.1:{free_port()}", "vouchers")
    try:
        with pytest.raises(Unavailable, match="cannot be reached"):
            await gone.get(ESTATE, SHA)
    finally:
        await gone.close()
