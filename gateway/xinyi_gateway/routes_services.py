"""REST routes of the disclosure service's estate overview."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from xinyi.disclosure.v1 import disclosure_pb2
from xinyi_gateway.deps import Authed, EstateId, Svc, iso

router = APIRouter(prefix="/api/v1")


class OverviewOut(BaseModel):
    estate_id: str
    name: str
    books_open: bool
    account_count: int
    registered_at: str | None
    applied_sequences: dict[str, int]


@router.get(
    "/estates/{estate_id}/overview",
    response_model=OverviewOut,
    tags=["disclosure"],
    summary="What the disclosure read models know of the estate",
)
async def overview(estate_id: EstateId, who: Authed, svc: Svc) -> OverviewOut:
    reply = await svc.disclosure.GetEstateOverview(
        disclosure_pb2.GetEstateOverviewRequest(estate_id=estate_id), metadata=who.metadata
    )
    o = reply.overview
    return OverviewOut(
        estate_id=o.estate_id,
        name=o.name,
        books_open=o.books_open,
        account_count=o.account_count,
        registered_at=iso(o.registered_at),
        applied_sequences=dict(o.applied_sequences),
    )
