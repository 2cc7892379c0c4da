"""Small translations shared by identity's servicers: timestamps, dates, the estate message."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from google.protobuf import timestamp_pb2

from xinyi.identity.v1 import identity_pb2
from xinyi_identity import domain, store
from xinyi_kit import clock

SHANGHAI = ZoneInfo("Asia/Shanghai")


def stamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value)
    return out


def midnight(day: date) -> datetime:
    """The start of a day in Asia/Shanghai, as events carry days."""
    return datetime.combine(day, time(), SHANGHAI)


def today() -> date:
    """Today in Asia/Shanghai, where dates in the trust model are reckoned."""
    return clock.now().astimezone(SHANGHAI).date()


def uuid_or_none(value: str, what: str) -> uuid.UUID | None:
    return domain.parse_uuid(value, what) if value else None


def estate_pb(
    row: store.Estate, *, company_id: uuid.UUID | None = None, unit_count: int = 0
) -> identity_pb2.Estate:
    return identity_pb2.Estate(
        estate_id=str(row.estate_id),
        name=row.name,
        community_id=str(row.community_id or ""),
        address=row.address,
        created_at=stamp(row.created_at),
        company_id=str(company_id or ""),
        approving_body=identity_pb2.ApprovingBody(
            kind=row.approving_body_kind,  # type: ignore[arg-type]
            name=row.approving_body_name,
            formed_on=row.approving_body_formed_on.isoformat()
            if row.approving_body_formed_on
            else "",
        ),
        management_group_id=str(row.management_group_id or ""),
        unit_count=unit_count,
    )


def grant_pb(row: store.RoleGrant) -> identity_pb2.RoleGrant:
    return identity_pb2.RoleGrant(
        grant_id=str(row.grant_id),
        user_id=str(row.user_id),
        role=row.role,
        estate_id=str(row.estate_id or ""),
        community_id=str(row.community_id or ""),
        company_id=str(row.company_id or ""),
        granted_at=stamp(row.granted_at),
        revoked_at=stamp(row.revoked_at),
    )
