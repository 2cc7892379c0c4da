"""REST routes of the monthly disclosure report and its flags."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from xinyi.disclosure.v1 import disclosure_pb2
from xinyi_gateway.deps import Authed, EstateId, Svc, iso

router = APIRouter(prefix="/api/v1/estates/{estate_id}", tags=["disclosure"])

Month = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


@router.get(
    "/reports/monthly/{period}",
    summary="The month's report: funds, income by source with items, expenses with vouchers, "
    "remuneration, fees and payment rate, budget against actual, payment requests, the bank, "
    "ballots, suggestions, the signed head and the flags (everyone in the estate)",
    response_model=None,
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {},
                "application/pdf": {},
            }
        }
    },
)
async def monthly_report(
    estate_id: EstateId,
    period: Month,
    request: Request,
    who: Authed,
    svc: Svc,
    format: Annotated[
        Literal["json", "csv", "pdf", "notice"],
        Query(description="json, csv (UTF-8 with BOM), pdf, or notice (the printable A4 公示)"),
    ] = "json",
) -> Response:
    record = str(request.url.replace(query=""))
    reply = await svc.disclosure.GetMonthlyReport(
        disclosure_pb2.GetMonthlyReportRequest(
            estate_id=estate_id, period=period, format=format, record_url=record
        ),
        metadata=who.metadata,
        timeout=60,
    )
    headers = (
        {"Content-Disposition": f'attachment; filename="{reply.filename}"'}
        if format != "json"
        else {}
    )
    return Response(content=reply.content, media_type=reply.media_type, headers=headers)


class FlagOut(BaseModel):
    flag_id: str
    period: str
    kind: str = Field(
        description="lump_sum_income, flat_income, takings_below_recorded, "
        "takings_contract_unpaid, expense_without_voucher, over_budget, bank_alarm, "
        "unreconciled, overdue_rectification, head_awaiting_cosign"
    )
    reason: str
    state: Literal["open", "explained", "resolved"]
    entry_ids: list[str]
    explanation: str | None
    explained_by: str | None
    explained_at: str | None
    raised_at: str | None


def _flag(f: disclosure_pb2.Flag) -> FlagOut:
    return FlagOut(
        flag_id=f.flag_id,
        period=f.period,
        kind=f.kind,
        reason=f.reason,
        state=f.state,
        entry_ids=list(f.entry_ids),
        explanation=f.explanation or None,
        explained_by=f.explained_by or None,
        explained_at=iso(f.explained_at),
        raised_at=iso(f.raised_at),
    )


@router.get(
    "/flags",
    response_model=list[FlagOut],
    summary="Anomaly flags: a month's (evaluated now), or every one not resolved",
)
async def list_flags(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    period: Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] = None,
) -> list[FlagOut]:
    reply = await svc.disclosure.ListFlags(
        disclosure_pb2.ListFlagsRequest(estate_id=estate_id, period=period or ""),
        metadata=who.metadata,
    )
    return [_flag(f) for f in reply.flags]


class ExplainIn(BaseModel):
    explanation: str = Field(min_length=1, max_length=2000)


@router.post(
    "/flags/{flag_id}/explanation",
    response_model=FlagOut,
    summary="Explain a flag in words owners read (the company or the approving body)",
)
async def explain_flag(
    estate_id: EstateId,
    flag_id: Annotated[str, Path(min_length=1, max_length=120, pattern=r"^[\w:.-]+$")],
    body: ExplainIn,
    who: Authed,
    svc: Svc,
) -> FlagOut:
    return _flag(
        await svc.disclosure.ExplainFlag(
            disclosure_pb2.ExplainFlagRequest(
                estate_id=estate_id, flag_id=flag_id, explanation=body.explanation
            ),
            metadata=who.metadata,
        )
    )


class RebuildOut(BaseModel):
    replayed: dict[str, int] = Field(description="Events replayed per emitter")


@router.post(
    "/disclosure/rebuild",
    response_model=RebuildOut,
    summary="Drop the estate's report read models and rebuild them from the emitters' event logs "
    "(the operator)",
)
async def rebuild(estate_id: EstateId, who: Authed, svc: Svc) -> RebuildOut:
    reply = await svc.disclosure.RebuildEstate(
        disclosure_pb2.RebuildEstateRequest(estate_id=estate_id),
        metadata=who.metadata,
        timeout=120,
    )
    return RebuildOut(replayed=dict(reply.replayed))
