"""Disclosure's gRPC servicer."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.disclosure.v1 import disclosure_pb2, disclosure_pb2_grpc
from xinyi_disclosure import flags, kpis, render, report, store
from xinyi_disclosure.article943 import Article943
from xinyi_disclosure.readmodels import SHANGHAI, Community, Flag
from xinyi_disclosure.replay import Replayer
from xinyi_kit import audit, auth, clock
from xinyi_kit.db import Database
from xinyi_kit.errors import InvalidArgument, NotFound, PermissionDenied
from xinyi_kit.permissions import MATRIX, Action, allowed, authorize_estate

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# Rendered files: media type, file name suffix, renderer.
RENDERED = {
    "csv": ("text/csv; charset=utf-8", "csv", render.to_csv),
    "pdf": ("application/pdf", "pdf", render.to_pdf),
    "notice": ("application/pdf", "notice.pdf", render.to_notice),
}
FORMATS = ("json", *RENDERED)


def _stamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value.astimezone(UTC))
    return out


def _flag_pb(f: Flag) -> disclosure_pb2.Flag:
    return disclosure_pb2.Flag(
        flag_id=f.flag_id,
        period=f.period,
        kind=f.kind,
        reason=f.reason,
        state=f.state,
        entry_ids=[str(e) for e in f.entry_ids],
        explanation=f.explanation,
        explained_by=str(f.explained_by or ""),
        explained_at=_stamp(f.explained_at),
        raised_at=_stamp(f.raised_at),
    )


class DisclosureApi(Article943, disclosure_pb2_grpc.DisclosureServiceServicer):
    def __init__(self, db: Database, replayer: Replayer) -> None:
        self.db = db
        self.replayer = replayer

    async def GetEstateOverview(
        self, request: disclosure_pb2.GetEstateOverviewRequest, context: grpc.aio.ServicerContext
    ) -> disclosure_pb2.GetEstateOverviewResponse:
        _, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await store.overview(session, estate_id)
            sequences = await store.applied_sequences(session, estate_id)
        if row is None:
            raise NotFound("no such estate (or its registration has not reached disclosure yet)")
        registered = timestamp_pb2.Timestamp()
        if row.registered_at is not None:
            registered.FromDatetime(row.registered_at)
        return disclosure_pb2.GetEstateOverviewResponse(
            overview=disclosure_pb2.EstateOverview(
                estate_id=str(row.estate_id),
                name=row.name,
                books_open=row.books_open,
                account_count=row.account_count,
                registered_at=registered,
                applied_sequences=sequences,
            )
        )

    async def GetMonthlyReport(
        self, request: disclosure_pb2.GetMonthlyReportRequest, context: grpc.aio.ServicerContext
    ) -> disclosure_pb2.MonthlyReport:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        period = _period(request.period)
        kind = request.format or "json"
        if kind not in FORMATS:
            raise InvalidArgument(f"format is one of {', '.join(FORMATS)}")
        async with self.db.estate_tx(estate_id) as session:
            if await store.overview(session, estate_id) is None:
                raise NotFound("no such estate (or its registration has not reached disclosure)")
            document = await report.build(
                session, estate_id, period, clock.now(), request.record_url[:500]
            )
        if kind == "json":
            return disclosure_pb2.MonthlyReport(
                content=json.dumps(document, ensure_ascii=False).encode(),
                media_type="application/json",
                filename=f"report-{period}.json",
            )
        media_type, suffix, renderer = RENDERED[kind]
        # Laying out a PDF takes CPU for a while: off the event loop.
        content = await asyncio.to_thread(renderer, document)
        return disclosure_pb2.MonthlyReport(
            content=content, media_type=media_type, filename=f"report-{period}.{suffix}"
        )

    async def ListFlags(
        self, request: disclosure_pb2.ListFlagsRequest, context: grpc.aio.ServicerContext
    ) -> disclosure_pb2.ListFlagsResponse:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            if request.period:
                rows = await flags.evaluate(
                    session, estate_id, _period(request.period), clock.now()
                )
            else:
                rows = list(
                    (
                        await session.execute(
                            select(Flag)
                            .where(Flag.estate_id == estate_id, Flag.state != "resolved")
                            .order_by(Flag.period.desc(), Flag.kind, Flag.flag_id)
                            .limit(1000)
                        )
                    ).scalars()
                )
            return disclosure_pb2.ListFlagsResponse(flags=[_flag_pb(f) for f in rows])

    async def ExplainFlag(
        self, request: disclosure_pb2.ExplainFlagRequest, context: grpc.aio.ServicerContext
    ) -> disclosure_pb2.Flag:
        principal, estate_id = authorize_estate(Action.FLAG_EXPLAIN, request.estate_id)
        words = request.explanation.strip()
        if not words or len(words) > 2000:
            raise InvalidArgument("explain the flag in words owners read (at most 2,000)")
        async with self.db.estate_tx(estate_id) as session:
            row = await session.get(Flag, (estate_id, request.flag_id[:120]), with_for_update=True)
            if row is None:
                raise NotFound("no such flag")
            row.explanation = words
            row.explained_by, row.explained_at = uuid.UUID(principal.user_id), clock.now()
            if row.state == "open":
                row.state = "explained"
            await session.flush()
            await audit.record(
                session, estate_id, "flag.explain", row.flag_id, {"text": words[:200]}
            )
            return _flag_pb(row)

    async def RebuildEstate(
        self, request: disclosure_pb2.RebuildEstateRequest, context: grpc.aio.ServicerContext
    ) -> disclosure_pb2.RebuildEstateResponse:
        _, estate_id = authorize_estate(Action.EVENT_LOG_READ, request.estate_id)
        replayed = await self.replayer.rebuild(estate_id)
        async with self.db.estate_tx(estate_id) as session:
            await audit.record(session, estate_id, "disclosure.rebuild", "", dict(replayed.items()))
        return disclosure_pb2.RebuildEstateResponse(replayed=replayed)

    async def GetKpis(
        self, request: disclosure_pb2.GetKpisRequest, context: grpc.aio.ServicerContext
    ) -> disclosure_pb2.Kpis:
        through = _period(request.through) if request.through else _current_month()
        count = request.months or 12
        if not 1 <= count <= 36:
            raise InvalidArgument("months is 1 to 36")
        months = kpis.months_back(through, count)
        now = clock.now()
        if request.estate_id:
            _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
            async with self.db.estate_tx(estate_id) as session:
                facts = await kpis.load(session, [estate_id], months, now)
            document = {"scope": {"estate_id": str(estate_id)}, **kpis.series(facts, [estate_id])}
        else:
            principal = auth.require()
            operator = allowed(principal, Action.KPI_READ_AREA)
            # Supervisors read the communities their grants name (and those communities' streets).
            mine = {
                g.community_id
                for g in principal.grants
                if g.community_id and g.role in MATRIX[Action.KPI_READ_AREA]
            }
            async with self.db.system_tx() as session:
                named = {
                    c.community_id: c for c in (await session.execute(select(Community))).scalars()
                }
                if request.community_id:
                    community = _uuid(request.community_id, "community_id")
                    if not (operator or str(community) in mine):
                        raise PermissionDenied(
                            "a community's KPIs are for its supervisors and the operator"
                        )
                    estates = await _estates_of(session, [community])
                    facts = await kpis.load(session, estates[community], months, now)
                    document = _part(facts, community, named.get(community), estates)
                elif request.street_id:
                    street = _uuid(request.street_id, "street_id")
                    on_street = {i: c for i, c in named.items() if c.street_id == street}
                    if not (operator or mine & {str(i) for i in on_street}):
                        raise PermissionDenied(
                            "a street's KPIs are for the operator and the supervisors of its "
                            "communities"
                        )
                    if not on_street:
                        raise NotFound(
                            "no such street (or its communities have not reached disclosure yet)"
                        )
                    estates = await _estates_of(session, list(on_street))
                    street_estates = [e for each in estates.values() for e in each]
                    facts = await kpis.load(session, street_estates, months, now)
                    first = next(iter(on_street.values()))
                    document = {
                        "scope": {
                            "street_id": str(street),
                            "name": first.street_name,
                            "district_name": first.district_name,
                        },
                        **kpis.series(facts, street_estates),
                        # A supervisor compares their own community with the street's totals;
                        # the other communities' parts are their supervisors' to read.
                        "communities": [
                            _part(facts, i, c, estates)
                            for i, c in sorted(on_street.items(), key=lambda x: x[1].name)
                            if operator or str(i) in mine
                        ],
                    }
                elif allowed(principal, Action.ESTATE_LIST_ALL):
                    everyone = list(
                        (await session.execute(select(store.EstateOverview.estate_id))).scalars()
                    )
                    estates = await _estates_of(session, list(named))
                    facts = await kpis.load(session, everyone, months, now)
                    document = {
                        "scope": {"city": "all"},
                        **kpis.series(facts, everyone),
                        "communities": [
                            _part(facts, i, c, estates)
                            for i, c in sorted(
                                named.items(), key=lambda x: (x[1].street_name, x[1].name)
                            )
                            if estates.get(i)
                        ],
                    }
                else:
                    raise PermissionDenied("the city's KPIs are the operator's")
        return disclosure_pb2.Kpis(content=json.dumps(document, ensure_ascii=False).encode())


async def _estates_of(
    session: AsyncSession, communities: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The estates of each community (in a system transaction)."""
    rows = await session.execute(
        select(store.EstateOverview.community_id, store.EstateOverview.estate_id).where(
            store.EstateOverview.community_id.in_(communities)
        )
    )
    out: dict[uuid.UUID, list[uuid.UUID]] = {c: [] for c in communities}
    for community, estate in rows.all():
        out[community].append(estate)
    return out


def _part(
    facts: kpis.Facts,
    community_id: uuid.UUID,
    named: Community | None,
    estates: dict[uuid.UUID, list[uuid.UUID]],
) -> dict[str, Any]:
    """A community's KPIs, named as identity named it (by id until its event arrives)."""
    scope: dict[str, str] = {"community_id": str(community_id)}
    if named is not None:
        scope |= {
            "name": named.name,
            "street_id": str(named.street_id),
            "street_name": named.street_name,
            "district_name": named.district_name,
        }
    return {"scope": scope, **kpis.series(facts, estates.get(community_id, []))}


def _current_month() -> str:
    local = clock.now().astimezone(SHANGHAI)
    return f"{local.year:04d}-{local.month:02d}"


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(f"{what} must be a UUID") from None


def _period(value: str) -> str:
    if not PERIOD.match(value):
        raise InvalidArgument("a month is written YYYY-MM, e.g. 2026-10")
    if not 1900 <= int(value[:4]) <= 2999:
        # Month arithmetic past the calendar's ends would fail deep inside a report.
        raise InvalidArgument("a month's year is 1900 to 2999")
    return value
