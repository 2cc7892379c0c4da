"""Vouchers' gRPC servicer: files checked by their bytes, stored by sha256, served by role."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import grpc
from google.protobuf import timestamp_pb2
from sqlalchemy import BigInteger, DateTime, SmallInteger, String, select
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from xinyi.ledger.v1 import vouchers_pb2, vouchers_pb2_grpc
from xinyi_kit import audit, clock
from xinyi_kit.db import Database
from xinyi_kit.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from xinyi_kit.files import NAMES, SIGNATURES, sniff
from xinyi_kit.permissions import Action, allowed, authorize_estate
from xinyi_ledger.blobstore import BlobStore, sha256_hex
from xinyi_ledger.store import Base

Kind = vouchers_pb2.VoucherKind
MAX_BYTES = 10 * 1024 * 1024
MAX_ROLES = 100
MAX_FEN = 10**13
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class VoucherRow(Base):
    __tablename__ = "vouchers"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger)
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(255))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    uploaded_by: Mapped[uuid.UUID] = mapped_column(UUID)
    redacted_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    redacted_media_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    redacted_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    payroll_totals: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)


def check_file(content: bytes, declared: str, what: str = "the file") -> str:
    """The file's sha256, once its size and type are acceptable and its bytes match its type."""
    if not content:
        raise InvalidArgument(f"{what} is empty")
    if len(content) > MAX_BYTES:
        raise InvalidArgument(f"{what} is larger than the limit of {MAX_BYTES} bytes (10 MiB)")
    if declared not in SIGNATURES:
        raise InvalidArgument(
            f"{what} must be one of {', '.join(SIGNATURES)}, not {declared or 'unnamed'}"
        )
    found = sniff(content)
    if found != declared:
        said = f"a {NAMES[found]}" if found else "none of the accepted types"
        raise InvalidArgument(
            f"{what} is declared {NAMES[declared]} but its bytes say it is {said}; "
            "send it with its true type"
        )
    return sha256_hex(content)


def clean_filename(name: str) -> str:
    """The last path component without control characters, for display and downloads."""
    last = re.split(r"[\\/]", name)[-1]
    return "".join(c for c in last if c.isprintable()).strip()[:255]


def check_totals(totals: dict[str, int]) -> dict[str, int]:
    if not totals:
        raise InvalidArgument("give the payroll's totals by role, in fen")
    if len(totals) > MAX_ROLES:
        raise InvalidArgument(f"at most {MAX_ROLES} roles in payroll totals")
    clean: dict[str, int] = {}
    for role, fen in totals.items():
        name = role.strip()
        if not 1 <= len(name) <= 50:
            raise InvalidArgument("each payroll role is named in 1 to 50 characters")
        if not 0 <= fen <= MAX_FEN:
            raise InvalidArgument(f"the total for {name} must be between 0 and {MAX_FEN} fen")
        clean[name] = clean.get(name, 0) + fen
    return clean


def kind_name(kind: int) -> str:
    return Kind.Name(kind).removeprefix("VOUCHER_KIND_").lower()


def _sha(value: str) -> str:
    if not SHA256.match(value):
        raise InvalidArgument("sha256 must be 64 lowercase hex digits")
    return value


def voucher_pb(row: VoucherRow) -> vouchers_pb2.Voucher:
    uploaded = timestamp_pb2.Timestamp()
    uploaded.FromDatetime(row.uploaded_at)
    return vouchers_pb2.Voucher(
        estate_id=str(row.estate_id),
        sha256=row.sha256,
        kind=row.kind,  # type: ignore[arg-type]
        media_type=row.media_type,
        size=row.size,
        filename=row.filename,
        uploaded_at=uploaded,
        uploaded_by=str(row.uploaded_by),
        redacted_sha256=row.redacted_sha256 or "",
        redacted_media_type=row.redacted_media_type or "",
        redacted_size=row.redacted_size or 0,
        payroll_totals_fen=row.payroll_totals,
    )


async def _row(
    session: AsyncSession, estate_id: uuid.UUID, sha256: str, *, lock: bool = False
) -> VoucherRow:
    query = select(VoucherRow).where(VoucherRow.estate_id == estate_id, VoucherRow.sha256 == sha256)
    row = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"this estate has no voucher {sha256}")
    return row


def _same_kind(row: VoucherRow, kind: int) -> VoucherRow:
    if row.kind != kind:
        raise AlreadyExists(
            f"this file was uploaded already as a {kind_name(row.kind)} voucher on "
            f"{row.uploaded_at:%Y-%m-%d}; a voucher keeps its kind"
        )
    return row


class VoucherApi(vouchers_pb2_grpc.VoucherServiceServicer):
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        self.blobs = blobs

    async def UploadVoucher(
        self, request: vouchers_pb2.UploadVoucherRequest, context: grpc.aio.ServicerContext
    ) -> vouchers_pb2.Voucher:
        principal, estate_id = authorize_estate(Action.VOUCHER_UPLOAD, request.estate_id)
        if request.kind == Kind.VOUCHER_KIND_UNSPECIFIED or request.kind not in Kind.values():
            raise InvalidArgument(
                "kind is one of: " + ", ".join(kind_name(k) for k in Kind.values() if k)
            )
        sha = check_file(request.content, request.media_type)
        totals: dict[str, int] = {}
        if request.payroll_totals_fen:
            if request.kind != Kind.VOUCHER_KIND_PAYROLL:
                raise InvalidArgument("only payroll vouchers carry totals by role")
            totals = check_totals(dict(request.payroll_totals_fen))
        async with self.db.estate_tx(estate_id) as session:
            existing = await session.get(VoucherRow, (estate_id, sha))
            if existing is not None:
                return voucher_pb(_same_kind(existing, request.kind))
        # The file goes first and outside the transaction: a row never names a missing file,
        # and a file without a row (a failed insert) is reused by the retry.
        await self.blobs.put(estate_id, sha, request.content, request.media_type)
        async with self.db.estate_tx(estate_id) as session:
            inserted = await session.execute(
                insert(VoucherRow)
                .values(
                    estate_id=estate_id,
                    sha256=sha,
                    kind=request.kind,
                    media_type=request.media_type,
                    size=len(request.content),
                    filename=clean_filename(request.filename),
                    uploaded_at=clock.now(),
                    uploaded_by=uuid.UUID(principal.user_id),
                    payroll_totals=totals,
                )
                .on_conflict_do_nothing()
                .returning(VoucherRow.sha256)
            )
            if inserted.first() is not None:
                await audit.record(
                    session,
                    estate_id,
                    "voucher.upload",
                    sha,
                    {
                        "kind": kind_name(request.kind),
                        "media_type": request.media_type,
                        "size": len(request.content),
                    },
                )
            row = await _row(session, estate_id, sha)
            return voucher_pb(_same_kind(row, request.kind))

    async def PutRedactedCopy(
        self, request: vouchers_pb2.PutRedactedCopyRequest, context: grpc.aio.ServicerContext
    ) -> vouchers_pb2.Voucher:
        _, estate_id = authorize_estate(Action.VOUCHER_UPLOAD, request.estate_id)
        original = _sha(request.sha256)
        sha = check_file(request.content, request.media_type, "the redacted copy")
        if sha == original:
            raise InvalidArgument(
                "the redacted copy is the same file as the original; remove the personal data first"
            )
        async with self.db.estate_tx(estate_id) as session:
            row = await _row(session, estate_id, original)
            if row.redacted_sha256 == sha:
                return voucher_pb(row)
        await self.blobs.put(estate_id, sha, request.content, request.media_type)
        async with self.db.estate_tx(estate_id) as session:
            row = await _row(session, estate_id, original, lock=True)
            replaced = row.redacted_sha256
            row.redacted_sha256 = sha
            row.redacted_media_type = request.media_type
            row.redacted_size = len(request.content)
            await audit.record(
                session,
                estate_id,
                "voucher.redacted_copy",
                original,
                {"redacted_sha256": sha, "replaced": replaced},
            )
            return voucher_pb(row)

    async def SetPayrollTotals(
        self, request: vouchers_pb2.SetPayrollTotalsRequest, context: grpc.aio.ServicerContext
    ) -> vouchers_pb2.Voucher:
        _, estate_id = authorize_estate(Action.VOUCHER_UPLOAD, request.estate_id)
        sha = _sha(request.sha256)
        totals = check_totals(dict(request.payroll_totals_fen))
        async with self.db.estate_tx(estate_id) as session:
            row = await _row(session, estate_id, sha, lock=True)
            if row.kind != Kind.VOUCHER_KIND_PAYROLL:
                raise FailedPrecondition(
                    f"only payroll vouchers carry totals by role; this one is a "
                    f"{kind_name(row.kind)}"
                )
            row.payroll_totals = totals
            await audit.record(
                session, estate_id, "voucher.payroll_totals", sha, {"totals": totals}
            )
            return voucher_pb(row)

    async def GetVoucher(
        self, request: vouchers_pb2.GetVoucherRequest, context: grpc.aio.ServicerContext
    ) -> vouchers_pb2.Voucher:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            return voucher_pb(await _row(session, estate_id, _sha(request.sha256)))

    async def ListVouchers(
        self, request: vouchers_pb2.ListVouchersRequest, context: grpc.aio.ServicerContext
    ) -> vouchers_pb2.ListVouchersResponse:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        query = (
            select(VoucherRow)
            .where(VoucherRow.estate_id == estate_id)
            .order_by(VoucherRow.uploaded_at.desc(), VoucherRow.sha256)
            .limit(1000)
        )
        if request.kind:
            query = query.where(VoucherRow.kind == int(request.kind))
        async with self.db.estate_tx(estate_id) as session:
            rows = (await session.execute(query)).scalars()
            return vouchers_pb2.ListVouchersResponse(vouchers=[voucher_pb(r) for r in rows])

    async def GetVoucherFile(
        self, request: vouchers_pb2.GetVoucherFileRequest, context: grpc.aio.ServicerContext
    ) -> vouchers_pb2.VoucherFile:
        principal, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await _row(session, estate_id, _sha(request.sha256))
        meta = voucher_pb(row)
        if allowed(principal, Action.VOUCHER_READ_ORIGINAL, estate_id):
            sha, media_type, redacted = row.sha256, row.media_type, False
        elif row.kind == Kind.VOUCHER_KIND_PAYROLL:
            raise PermissionDenied(
                "payroll vouchers are shown to owners as totals by role, not as files; "
                "the totals are in the voucher's payroll_totals",
                problem_code="payroll_totals_only",
            )
        elif row.redacted_sha256 and row.redacted_media_type:
            sha, media_type, redacted = row.redacted_sha256, row.redacted_media_type, True
        else:
            sha, media_type, redacted = row.sha256, row.media_type, False
        content = await self.blobs.get(estate_id, sha)
        return vouchers_pb2.VoucherFile(
            voucher=meta, redacted=redacted, sha256=sha, media_type=media_type, content=content
        )
