"""Voucher files as objects of an S3-compatible store, for replicas that share them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from xinyi_kit.errors import Unavailable
from xinyi_ledger.blobstore import BlobMissing, check

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client


def _unreachable() -> Unavailable:
    return Unavailable("the voucher store cannot be reached; try again shortly")


class S3Store:
    """Objects `<estate_id>/<sha256>` in one bucket of an S3-compatible store, path-style.

    The client is opened on first use, inside the serving event loop, and kept for the process.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self._access_key = access_key
        self._secret_key = secret_key
        self._stack = contextlib.AsyncExitStack()
        self._client: S3Client | None = None
        self._lock = asyncio.Lock()

    @staticmethod
    def key(estate_id: uuid.UUID, sha256: str) -> str:
        return f"{estate_id}/{sha256}"

    async def _s3(self) -> S3Client:
        async with self._lock:
            if self._client is None:
                config = AioConfig(
                    s3={"addressing_style": "path"},
                    # Many S3-compatible stores reject the SDK's default CRC checksums; the
                    # sha256 address is the checksum that matters, checked on every read.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"max_attempts": 3, "mode": "standard"},
                )
                self._client = await self._stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        endpoint_url=self.endpoint,
                        region_name=self.region,
                        aws_access_key_id=self._access_key,
                        aws_secret_access_key=self._secret_key,
                        config=config,
                    )
                )
            return self._client

    async def put(self, estate_id: uuid.UUID, sha256: str, content: bytes, media_type: str) -> None:
        check(sha256, content)
        s3 = await self._s3()
        try:
            await s3.put_object(
                Bucket=self.bucket,
                Key=self.key(estate_id, sha256),
                Body=content,
                ContentType=media_type,
            )
        except ClientError as exc:
            raise self._explain(exc) from exc
        except BotoCoreError as exc:
            raise _unreachable() from exc

    async def get(self, estate_id: uuid.UUID, sha256: str) -> bytes:
        s3 = await self._s3()
        key = self.key(estate_id, sha256)
        try:
            reply = await s3.get_object(Bucket=self.bucket, Key=key)
            async with reply["Body"] as body:
                content = await body.read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise BlobMissing(f"no object {key} in bucket {self.bucket}") from None
            raise self._explain(exc) from exc
        except BotoCoreError as exc:
            raise _unreachable() from exc
        check(sha256, content)
        return content

    def _explain(self, exc: ClientError) -> Exception:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket":
            return RuntimeError(
                f"the voucher bucket {self.bucket!r} does not exist at {self.endpoint}; "
                "create it before starting the ledger"
            )
        return exc

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None
