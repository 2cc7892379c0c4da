"""REST routes of takings: gate exports in as the raw file, income contracts, and the monthly
check of recorded and expected income against what was posted (everyone in the estate reads it;
contracts name companies, not persons)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from xinyi.ledger.v1 import takings_pb2
from xinyi_gateway.deps import UUID_PATTERN, Authed, EstateId, IdempotencyKey, Svc, iso
from xinyi_gateway.limits import Allowance
from xinyi_gateway.uploads import file_body, read_file

router = APIRouter(prefix="/api/v1/estates/{estate_id}", tags=["ledger"])

MAX_BYTES = 8 * 1024 * 1024
BODY_ALLOWANCES: list[Allowance] = [
    ("POST", re.compile(r"/api/v1/estates/[^/]+/takings-imports"), MAX_BYTES)
]
# Spreadsheet programs on Windows send a CSV as application/vnd.ms-excel.
MEDIA_TYPES = ("text/csv", "text/plain", "application/vnd.ms-excel", "application/octet-stream")
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
Metered = Literal["parking"]
Source = Literal["parking", "advertising", "venue", "other"]
Month = Annotated[str, Path(pattern=MONTH, description="YYYY-MM")]


class TakingsImportOut(BaseModel):
    import_id: str
    source: Metered
    filename: str
    profile: str = Field(description="The takings profile the file was read with")
    layout: Literal["per_day", "per_session"] = Field(
        description="per_day: the system's daily totals; per_session: one row per paid stay, "
        "counted on its exit day"
    )
    file_sha256: str
    rows_new: int
    rows_duplicate: int = Field(
        description="Rows an earlier, overlapping export brought already (same day and total, "
        "or same order number): not stored again"
    )
    first_day: str = Field(description="The file's first and last day")
    last_day: str
    total_fen: int = Field(description="Of the new rows, in fen (100 fen = 1 yuan)")
    imported_at: str | None
    imported_by: str


def _import(r: takings_pb2.TakingsImport) -> TakingsImportOut:
    return TakingsImportOut(
        import_id=r.import_id,
        source=r.source,
        filename=r.filename,
        profile=r.profile,
        layout=r.layout,
        file_sha256=r.file_sha256,
        rows_new=r.rows_new,
        rows_duplicate=r.rows_duplicate,
        first_day=r.first_day,
        last_day=r.last_day,
        total_fen=r.total_fen,
        imported_at=iso(r.imported_at),
        imported_by=r.imported_by,
    )


@router.post(
    "/takings-imports",
    response_model=TakingsImportOut,
    status_code=201,
    summary="Import a parking gate export, per day or per paid stay (the company or the "
    "approving body); a file with any bad row imports nothing, rows seen before count once",
    openapi_extra=file_body(MEDIA_TYPES, MAX_BYTES),
)
async def import_takings(
    estate_id: EstateId,
    request: Request,
    who: Authed,
    svc: Svc,
    source: Annotated[Metered, Query(description="What system took the money")] = "parking",
    filename: Annotated[str, Query(max_length=255)] = "",
    profile: Annotated[
        str,
        Query(
            max_length=60,
            pattern=r"^[a-z0-9-]*$",
            description="gate-daily, gate-sessions, ...; empty: told by the file's header",
        ),
    ] = "",
) -> TakingsImportOut | Response:
    got = await read_file(request, MEDIA_TYPES, MAX_BYTES, "a gate export")
    if isinstance(got, Response):
        return got
    content, _ = got
    reply = await svc.takings.ImportTakings(
        takings_pb2.ImportTakingsRequest(
            estate_id=estate_id, source=source, filename=filename, content=content, profile=profile
        ),
        metadata=who.metadata,
        timeout=120,
    )
    return _import(reply)


@router.get(
    "/takings-imports",
    response_model=list[TakingsImportOut],
    summary="The gate exports imported, newest first",
)
async def list_imports(estate_id: EstateId, who: Authed, svc: Svc) -> list[TakingsImportOut]:
    reply = await svc.takings.ListTakingsImports(
        takings_pb2.ListTakingsImportsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [_import(r) for r in reply.imports]


class ContractIn(BaseModel):
    source: Source = Field(description="parking here is a lease (e.g. a block of spaces)")
    counterparty: str = Field(
        min_length=1, max_length=200, description="The paying company (owners read it)"
    )
    description: str = Field(default="", max_length=500)
    monthly_fen: int = Field(gt=0, le=10**13, description="Expected each month, in fen")
    first_month: str = Field(pattern=MONTH, description="YYYY-MM, the first month it pays for")
    last_month: str | None = Field(
        default=None, pattern=MONTH, description="YYYY-MM, the last; null: open-ended"
    )


class ContractOut(ContractIn):
    contract_id: str
    saved_at: str | None = Field(
        description="When this version was saved; the audit log keeps the earlier ones"
    )
    saved_by: str


def _contract(c: takings_pb2.IncomeContract) -> ContractOut:
    return ContractOut(
        contract_id=c.contract_id,
        source=c.source,
        counterparty=c.counterparty,
        description=c.description,
        monthly_fen=c.monthly_fen,
        first_month=c.first_month,
        last_month=c.last_month or None,
        saved_at=iso(c.saved_at),
        saved_by=c.saved_by,
    )


async def _save(
    estate_id: str,
    contract_id: str,
    body: ContractIn,
    who: Authed,
    svc: Svc,
    idempotency_key: str = "",
) -> ContractOut:
    return _contract(
        await svc.takings.SaveIncomeContract(
            takings_pb2.SaveIncomeContractRequest(
                idempotency_key=idempotency_key,
                estate_id=estate_id,
                contract_id=contract_id,
                source=body.source,
                counterparty=body.counterparty,
                description=body.description,
                monthly_fen=body.monthly_fen,
                first_month=body.first_month,
                last_month=body.last_month or "",
            ),
            metadata=who.metadata,
        )
    )


@router.post(
    "/income-contracts",
    response_model=ContractOut,
    status_code=201,
    summary="Record an advertising, venue or parking lease contract's expected monthly income "
    "(the company or the approving body); a retry with the same Idempotency-Key returns the "
    "first contract, the key with other terms is refused (409)",
)
async def create_contract(
    estate_id: EstateId,
    body: ContractIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> ContractOut:
    return await _save(estate_id, "", body, who, svc, idempotency_key or "")


@router.put(
    "/income-contracts/{contract_id}",
    response_model=ContractOut,
    summary="Change a contract's terms (the company or the approving body); the audit log keeps "
    "every earlier version",
)
async def edit_contract(
    estate_id: EstateId,
    contract_id: Annotated[str, Path(pattern=UUID_PATTERN)],
    body: ContractIn,
    who: Authed,
    svc: Svc,
) -> ContractOut:
    return await _save(estate_id, contract_id, body, who, svc)


@router.get(
    "/income-contracts", response_model=list[ContractOut], summary="The estate's income contracts"
)
async def list_contracts(estate_id: EstateId, who: Authed, svc: Svc) -> list[ContractOut]:
    reply = await svc.takings.ListIncomeContracts(
        takings_pb2.ListIncomeContractsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [_contract(c) for c in reply.contracts]


class CheckOut(BaseModel):
    month: str
    source: Source
    recorded_fen: int = Field(description="What the gates recorded for the month's days")
    recorded_days: int = Field(description="How many of the month's days the exports cover")
    expected_fen: int = Field(description="What the contracts active in the month expect")
    posted_fen: int = Field(
        description="Income of the source posted for the month (by the day it is booked on), "
        "reversals subtracted from the month of what they reverse"
    )
    shortfall_fen: int = Field(description="recorded + expected - posted, never below zero")
    state: Literal["in_progress", "ok", "flagged"] = Field(
        description="in_progress: the month is not over (Asia/Shanghai), so nothing is flagged"
    )
    flag: Literal["below_recorded", "contract_unpaid"] | None = Field(
        description="below_recorded: posted far below what the gates recorded; contract_unpaid: "
        "below what the contracts expect. Stays until the income is posted"
    )
    reason: str | None = Field(description="The flag in words")
    explanation: str | None = Field(description="The company's explanation, beside the flag")
    explained_at: str | None


class ChecksOut(BaseModel):
    checks: list[CheckOut]
    below_recorded_percent: int = Field(
        description="below_recorded: the shortfall is more than this share of the recorded "
        "takings, and more than below_recorded_min_fen"
    )
    below_recorded_min_fen: int


def _check(c: takings_pb2.TakingsCheck) -> CheckOut:
    return CheckOut(
        month=c.month,
        source=c.source,
        recorded_fen=c.recorded_fen,
        recorded_days=c.recorded_days,
        expected_fen=c.expected_fen,
        posted_fen=c.posted_fen,
        shortfall_fen=c.shortfall_fen,
        state=c.state,
        flag=c.flag or None,
        reason=c.reason or None,
        explanation=c.explanation or None,
        explained_at=iso(c.explained_at),
    )


@router.get(
    "/takings-checks",
    response_model=ChecksOut,
    summary="Month by month, per source: what the gates recorded and the contracts expect "
    "against the income posted, with the flags (everyone in the estate)",
)
async def list_checks(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    from_month: Annotated[
        str | None, Query(alias="from", pattern=MONTH, description="YYYY-MM")
    ] = None,
    to_month: Annotated[
        str | None,
        Query(
            alias="to",
            pattern=MONTH,
            description="YYYY-MM, at most 36 months after from; default: the twelve months up "
            "to the current one",
        ),
    ] = None,
) -> ChecksOut:
    reply = await svc.takings.ListTakingsChecks(
        takings_pb2.ListTakingsChecksRequest(
            estate_id=estate_id, from_month=from_month or "", to_month=to_month or ""
        ),
        metadata=who.metadata,
    )
    return ChecksOut(
        checks=[_check(c) for c in reply.checks],
        below_recorded_percent=reply.below_recorded_percent,
        below_recorded_min_fen=reply.below_recorded_min_fen,
    )


class ExplainIn(BaseModel):
    explanation: str = Field(min_length=1, max_length=2000, description="In words owners read")


@router.post(
    "/takings-checks/{month}/{source}/explanation",
    response_model=CheckOut,
    summary="Explain a flagged month in words owners read (the company); the flag stays visible",
)
async def explain_check(
    estate_id: EstateId,
    month: Month,
    source: Annotated[Source, Path()],
    body: ExplainIn,
    who: Authed,
    svc: Svc,
) -> CheckOut:
    return _check(
        await svc.takings.ExplainTakingsCheck(
            takings_pb2.ExplainTakingsCheckRequest(
                estate_id=estate_id, month=month, source=source, explanation=body.explanation
            ),
            metadata=who.metadata,
        )
    )
