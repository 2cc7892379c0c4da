"""REST routes of vouchers (财务凭证): upload files as raw bodies, read them as each role may."""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from xinyi.ledger.v1 import vouchers_pb2
from xinyi_gateway.deps import Authed, EstateId, Svc, iso
from xinyi_gateway.limits import Allowance
from xinyi_gateway.uploads import file_body, read_file
from xinyi_kit.errors import InvalidArgument

router = APIRouter(prefix="/api/v1/estates/{estate_id}/vouchers", tags=["vouchers"])

MAX_BYTES = 10 * 1024 * 1024
# Files move in one gRPC message each way; a slow object store gets more than the default.
FILE_CALL_SECONDS = 30.0
MEDIA_TYPES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
}
KindName = Literal["receipt", "invoice", "contract", "payroll", "bank", "other"]
_BASE = r"/api/v1/estates/[^/]+/vouchers"
# The global body limit stays small; only these two routes take files.
BODY_ALLOWANCES: list[Allowance] = [
    ("POST", re.compile(_BASE), MAX_BYTES),
    ("PUT", re.compile(_BASE + r"/[0-9a-f]{64}/redacted"), MAX_BYTES),
]
FILE_BODY = file_body(MEDIA_TYPES, MAX_BYTES)

Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="The file's sha256, hex")]
RoleName = Annotated[str, Field(min_length=1, max_length=50)]
Fen = Annotated[int, Field(ge=0, le=10**13, strict=True)]
TOTALS = TypeAdapter(dict[RoleName, Fen])


class VoucherOut(BaseModel):
    sha256: str
    kind: str
    media_type: str
    size: int
    filename: str
    has_redacted_copy: bool
    redacted_sha256: str | None
    uploaded_at: str | None
    payroll_totals: dict[str, int] | None = Field(
        description="Payroll only: totals by role in fen, what owners see of payroll"
    )


class TotalsIn(BaseModel):
    totals: dict[RoleName, Fen] = Field(
        min_length=1, max_length=100, examples=[{"保洁员": 1234500, "保安员": 2345600}]
    )


def _out(v: vouchers_pb2.Voucher) -> VoucherOut:
    payroll = v.kind == vouchers_pb2.VOUCHER_KIND_PAYROLL
    return VoucherOut(
        sha256=v.sha256,
        kind=vouchers_pb2.VoucherKind.Name(v.kind).removeprefix("VOUCHER_KIND_").lower(),
        media_type=v.media_type,
        size=v.size,
        filename=v.filename,
        has_redacted_copy=bool(v.redacted_sha256),
        redacted_sha256=v.redacted_sha256 or None,
        uploaded_at=iso(v.uploaded_at),
        payroll_totals=dict(v.payroll_totals_fen) if payroll else None,
    )


async def _file(request: Request) -> tuple[bytes, str] | Response:
    return await read_file(request, MEDIA_TYPES, MAX_BYTES, "a voucher")


def _totals(raw: str | None) -> dict[str, int]:
    if raw is None:
        return {}
    try:
        return TOTALS.validate_python(json.loads(raw))
    except (ValueError, ValidationError):
        raise InvalidArgument(
            'payroll_totals must be a JSON object of role to fen, e.g. {"保洁员": 1234500}'
        ) from None


@router.post(
    "",
    response_model=VoucherOut,
    status_code=201,
    summary="Upload a voucher file as the raw body (company); the same bytes give the same voucher",
    openapi_extra=FILE_BODY,
)
async def upload(
    estate_id: EstateId,
    request: Request,
    response: Response,
    who: Authed,
    svc: Svc,
    kind: Annotated[KindName, Query()],
    filename: Annotated[str, Query(max_length=255)] = "",
    payroll_totals: Annotated[
        str | None,
        Query(max_length=2_000, description='Payroll only: JSON {"role": fen, ...}'),
    ] = None,
) -> VoucherOut | Response:
    got = await _file(request)
    if isinstance(got, Response):
        return got
    content, media_type = got
    reply = await svc.vouchers.UploadVoucher(
        vouchers_pb2.UploadVoucherRequest(
            estate_id=estate_id,
            kind=f"VOUCHER_KIND_{kind.upper()}",
            media_type=media_type,
            filename=filename,
            content=content,
            payroll_totals_fen=_totals(payroll_totals),
        ),
        metadata=who.metadata,
        timeout=FILE_CALL_SECONDS,
    )
    response.headers["Location"] = f"/api/v1/estates/{estate_id}/vouchers/{reply.sha256}/meta"
    return _out(reply)


@router.put(
    "/{sha256}/redacted",
    response_model=VoucherOut,
    summary="Store the copy without personal data that owners and tenants get (company)",
    openapi_extra=FILE_BODY,
)
async def redacted(
    estate_id: EstateId, sha256: Sha256, request: Request, who: Authed, svc: Svc
) -> VoucherOut | Response:
    got = await _file(request)
    if isinstance(got, Response):
        return got
    content, media_type = got
    reply = await svc.vouchers.PutRedactedCopy(
        vouchers_pb2.PutRedactedCopyRequest(
            estate_id=estate_id, sha256=sha256, media_type=media_type, content=content
        ),
        metadata=who.metadata,
        timeout=FILE_CALL_SECONDS,
    )
    return _out(reply)


@router.put(
    "/{sha256}/payroll-totals",
    response_model=VoucherOut,
    summary="A payroll voucher's totals by role, in fen: what owners see of payroll (company)",
)
async def payroll_totals(
    estate_id: EstateId, sha256: Sha256, body: TotalsIn, who: Authed, svc: Svc
) -> VoucherOut:
    reply = await svc.vouchers.SetPayrollTotals(
        vouchers_pb2.SetPayrollTotalsRequest(
            estate_id=estate_id, sha256=sha256, payroll_totals_fen=body.totals
        ),
        metadata=who.metadata,
    )
    return _out(reply)


@router.get("", response_model=list[VoucherOut], summary="The estate's vouchers, newest first")
async def list_vouchers(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    kind: Annotated[KindName | None, Query()] = None,
) -> list[VoucherOut]:
    reply = await svc.vouchers.ListVouchers(
        vouchers_pb2.ListVouchersRequest(
            estate_id=estate_id, kind=f"VOUCHER_KIND_{kind.upper()}" if kind else None
        ),
        metadata=who.metadata,
    )
    return [_out(v) for v in reply.vouchers]


@router.get("/{sha256}/meta", response_model=VoucherOut, summary="A voucher's metadata")
async def meta(estate_id: EstateId, sha256: Sha256, who: Authed, svc: Svc) -> VoucherOut:
    reply = await svc.vouchers.GetVoucher(
        vouchers_pb2.GetVoucherRequest(estate_id=estate_id, sha256=sha256), metadata=who.metadata
    )
    return _out(reply)


@router.get(
    "/{sha256}",
    summary="The file: the original for the approving body, supervisors and the company; the "
    "redacted copy, if any, for everyone else; payroll files only as totals by role",
    response_class=Response,
    responses={200: {"content": {t: {} for t in MEDIA_TYPES}}},
)
async def file(
    estate_id: EstateId, sha256: Sha256, request: Request, who: Authed, svc: Svc
) -> Response:
    reply = await svc.vouchers.GetVoucherFile(
        vouchers_pb2.GetVoucherFileRequest(estate_id=estate_id, sha256=sha256),
        metadata=who.metadata,
        timeout=FILE_CALL_SECONDS,
    )
    extension = MEDIA_TYPES.get(reply.media_type, "")
    stem = reply.voucher.filename.rsplit(".", 1)[0] or reply.sha256[:16]
    name = f"{stem}{'-redacted' if reply.redacted else ''}{extension}"
    headers = {
        "ETag": f'"{reply.sha256}"',
        # Private: what a URL shows depends on who asks. Immutable: a sha names its bytes.
        "Cache-Control": "private, max-age=31536000, immutable",
        "Vary": "Authorization",
        "Content-Disposition": (
            f"inline; filename=\"{reply.sha256[:16]}{extension}\"; filename*=UTF-8''{quote(name)}"
        ),
        # Shown as a document of its own, the file may run nothing and load nothing.
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        "X-Voucher-Redacted": "true" if reply.redacted else "false",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(reply.content, media_type=reply.media_type, headers=headers)
