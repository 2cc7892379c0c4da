"""REST routes of the ledger, voting, disclosure and notifications services."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from xinyi.disclosure.v1 import disclosure_pb2
from xinyi.notifications.v1 import notifications_pb2
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


class InboxMessageOut(BaseModel):
    message_id: str
    kind: str
    title: str
    body: str
    read: bool
    created_at: str | None
    estate_id: str


class InboxPage(BaseModel):
    messages: list[InboxMessageOut]
    next_cursor: str | None


@router.get(
    "/me/inbox",
    response_model=InboxPage,
    tags=["notifications"],
    summary="My in-app messages, newest first",
)
async def inbox(
    who: Authed,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> InboxPage:
    reply = await svc.notifications.ListInbox(
        notifications_pb2.ListInboxRequest(page_size=limit, page_token=cursor or ""),
        metadata=who.metadata,
    )
    return InboxPage(
        messages=[
            InboxMessageOut(
                message_id=m.message_id,
                kind=m.kind,
                title=m.title,
                body=m.body,
                read=m.read,
                created_at=iso(m.created_at),
                estate_id=m.estate_id,
            )
            for m in reply.messages
        ],
        next_cursor=reply.next_page_token or None,
    )
