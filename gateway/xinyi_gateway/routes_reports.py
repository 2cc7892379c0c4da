"""REST routes of the monthly disclosure report and its flags."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from xinyi.disclosure.v1 import disclosure_pb2
from xinyi_gateway.deps import UUID_PATTERN, Authed, EstateId, Svc, iso

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
        description="lump_sum_income, flat_income, income_below_peers, takings_below_recorded, "
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


kpis = APIRouter(prefix="/api/v1", tags=["disclosure"])
Through = Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
Months = Annotated[int, Query(ge=1, le=36)]
KPI_SUMMARY = (
    "month by month (payment rate by amount and by units; disputes opened, resolved, open at the "
    "month's end and the median days to resolve; satisfaction from closed surveys) beside the "
    "baseline recorded when the estates joined, and each month against it"
)


async def _kpis(
    svc: Svc,
    who: Authed,
    *,
    estate_id: str = "",
    community_id: str = "",
    street_id: str = "",
    through: str | None,
    months: int,
) -> Response:
    reply = await svc.disclosure.GetKpis(
        disclosure_pb2.GetKpisRequest(
            estate_id=estate_id,
            community_id=community_id,
            street_id=street_id,
            through=through or "",
            months=months,
        ),
        metadata=who.metadata,
    )
    return Response(content=reply.content, media_type="application/json")


@router.get("/kpis", response_model=None, summary=f"The estate's KPIs {KPI_SUMMARY}")
async def estate_kpis(
    estate_id: EstateId, who: Authed, svc: Svc, through: Through = None, months: Months = 12
) -> Response:
    return await _kpis(svc, who, estate_id=estate_id, through=through, months=months)


@kpis.get(
    "/communities/{community_id}/kpis",
    response_model=None,
    summary=f"A community's KPIs, its estates together, {KPI_SUMMARY} (its supervisors)",
)
async def community_kpis(
    community_id: Annotated[str, Path(pattern=UUID_PATTERN)],
    who: Authed,
    svc: Svc,
    through: Through = None,
    months: Months = 12,
) -> Response:
    return await _kpis(svc, who, community_id=community_id, through=through, months=months)


@kpis.get(
    "/streets/{street_id}/kpis",
    response_model=None,
    summary=f"A street's KPIs, its communities' estates together, {KPI_SUMMARY}, with each "
    "community's part (the operator; a supervisor of one of its communities reads the street's "
    "totals and only their own community's part)",
)
async def street_kpis(
    street_id: Annotated[str, Path(pattern=UUID_PATTERN)],
    who: Authed,
    svc: Svc,
    through: Through = None,
    months: Months = 12,
) -> Response:
    return await _kpis(svc, who, street_id=street_id, through=through, months=months)


@kpis.get(
    "/kpis",
    response_model=None,
    summary=f"The city's KPIs {KPI_SUMMARY}, with each community's part (the operator)",
)
async def city_kpis(
    who: Authed, svc: Svc, through: Through = None, months: Months = 12
) -> Response:
    return await _kpis(svc, who, through=through, months=months)


Topic = Literal[
    "services",
    "responsible_staff",
    "quality_standards",
    "fee_items",
    "performance",
    "maintenance_fund_use",
    "common_parts_income",
]


class DisclosureIn(BaseModel):
    content: str = Field(min_length=1, max_length=20_000, description="In words owners read")


class DisclosureOut(BaseModel):
    topic: Topic
    version: int
    content: str
    saved_by: str
    saved_at: str | None


def _disclosure(d: disclosure_pb2.EstateDisclosure) -> DisclosureOut:
    return DisclosureOut(
        topic=d.topic,
        version=d.version,
        content=d.content,
        saved_by=d.saved_by,
        saved_at=iso(d.saved_at),
    )


@router.put(
    "/disclosures/{topic}",
    response_model=DisclosureOut,
    summary="Disclose a topic Civil Code art. 943 names (the company's manager): each save is a "
    "new version, the earlier ones stay",
)
async def save_disclosure(
    estate_id: EstateId, topic: Topic, body: DisclosureIn, who: Authed, svc: Svc
) -> DisclosureOut:
    return _disclosure(
        await svc.disclosure.SaveDisclosure(
            disclosure_pb2.SaveDisclosureRequest(
                estate_id=estate_id, topic=topic, content=body.content
            ),
            metadata=who.metadata,
        )
    )


@router.get(
    "/disclosures",
    response_model=list[DisclosureOut],
    summary="The company's art. 943 disclosures: the latest of each topic, or one topic's "
    "history (everyone in the estate)",
)
async def list_disclosures(
    estate_id: EstateId, who: Authed, svc: Svc, topic: Annotated[Topic | None, Query()] = None
) -> list[DisclosureOut]:
    reply = await svc.disclosure.ListDisclosures(
        disclosure_pb2.ListDisclosuresRequest(estate_id=estate_id, topic=topic or ""),
        metadata=who.metadata,
    )
    return [_disclosure(d) for d in reply.disclosures]
