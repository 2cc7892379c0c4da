"""Who is who, as identity's events tell it: estates with their community and company, role
grants, units' owners and the accounts that speak for them. Turns an audience into people."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from google.protobuf.message import Message
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import events_pb2 as identity_events
from xinyi_kit.consumer import Batched, Handlers
from xinyi_kit.db import driver_connection
from xinyi_kit.permissions import COMPANY, Role
from xinyi_notifications import store, tx
from xinyi_notifications.plan import KindSetting, Person
from xinyi_notifications.rules import Notice

COMPANY_ROLES = frozenset(r.value for r in COMPANY)


def _uuid(value: str) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def estate_key(estate_id: uuid.UUID) -> tuple[str, uuid.UUID]:
    """The key of an estate's name in the transaction's memo (`tx.remembered`)."""
    return ("estate", estate_id)


async def _estate(session: AsyncSession, estate_id: uuid.UUID) -> store.Estate:
    """The estate's row, to change: what the transaction remembered of it is forgotten."""
    tx.forget(session, estate_key(estate_id))
    row = await session.get(store.Estate, estate_id)
    if row is None:
        row = store.Estate(estate_id=estate_id, name="")
        session.add(row)
    return row


async def estate_created(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, identity_events.EstateCreated)
    row = await _estate(session, uuid.UUID(event.estate_id))
    row.name = event.name
    row.community_id = _uuid(event.community_id)


async def company_assigned(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, identity_events.CompanyAssigned)
    row = await _estate(session, uuid.UUID(event.estate_id))
    # An assignment that has ended names no company; the latest open one does.
    if not event.HasField("ends_at"):
        row.company_id = _uuid(event.company_id)
    elif row.company_id == _uuid(event.company_id):
        row.company_id = None


def _scope(event: identity_events.RoleGranted | identity_events.RoleRevoked) -> tuple[str, str]:
    if event.estate_id:
        return "estate", event.estate_id
    if event.community_id:
        return "community", event.community_id
    if event.company_id:
        return "company", event.company_id
    return "platform", str(uuid.UUID(int=0))


async def role_granted(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, identity_events.RoleGranted)
    scope, scope_id = _scope(event)
    user = uuid.UUID(event.user_id)
    if scope == "estate":
        estate = uuid.UUID(scope_id)
        await session.execute(
            insert(store.Member)
            .values(estate_id=estate, role=event.role, user_id=user)
            .on_conflict_do_nothing()
        )
        if event.owner_ids:
            await session.execute(
                insert(store.OwnerUser)
                .values(
                    [{"estate_id": estate, "owner_id": o, "user_id": user} for o in event.owner_ids]
                )
                .on_conflict_do_nothing()
            )
    else:
        await session.execute(
            insert(store.ScopeMember)
            .values(scope=scope, scope_id=uuid.UUID(scope_id), role=event.role, user_id=user)
            .on_conflict_do_nothing()
        )


async def role_revoked(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, identity_events.RoleRevoked)
    scope, scope_id = _scope(event)
    user = uuid.UUID(event.user_id)
    if scope == "estate":
        estate = uuid.UUID(scope_id)
        await session.execute(
            delete(store.Member).where(
                store.Member.estate_id == estate,
                store.Member.role == event.role,
                store.Member.user_id == user,
            )
        )
        if event.role == Role.OWNER.value:
            await session.execute(
                delete(store.OwnerUser).where(
                    store.OwnerUser.estate_id == estate, store.OwnerUser.user_id == user
                )
            )
    else:
        await session.execute(
            delete(store.ScopeMember).where(
                store.ScopeMember.scope == scope,
                store.ScopeMember.scope_id == uuid.UUID(scope_id),
                store.ScopeMember.role == event.role,
                store.ScopeMember.user_id == user,
            )
        )


# A run of units' owners as identity announced them, in one statement (an estate's import is
# an ownership change per unit): each unit's owner ids come as a JSON array.
_UPSERT_OWNERS = (
    "INSERT INTO unit_owners (estate_id, unit_id, owner_ids) "
    "SELECT $1, u.unit_id, ARRAY(SELECT jsonb_array_elements_text(u.owners)) "
    "FROM unnest($2::uuid[], $3::jsonb[]) AS u (unit_id, owners) "
    "ON CONFLICT (estate_id, unit_id) DO UPDATE SET owner_ids = EXCLUDED.owner_ids"
)


async def ownership_changed(
    session: AsyncSession, changes: Sequence[tuple[common_pb2.EventEnvelope, Message]]
) -> None:
    owners: dict[uuid.UUID, str] = {}  # a unit named twice keeps its last owners
    for _, event in changes:
        assert isinstance(event, identity_events.OwnershipChanged)
        owners[uuid.UUID(event.unit_id)] = json.dumps(list(event.owner_ids))
    # A run is of one estate: the consumer applies each estate's events apart.
    raw = await driver_connection(session)
    await raw.execute(
        _UPSERT_OWNERS, uuid.UUID(changes[0][0].estate_id), list(owners), list(owners.values())
    )


IDENTITY: Handlers = {
    identity_events.EstateCreated: estate_created,
    identity_events.CompanyAssigned: company_assigned,
    identity_events.RoleGranted: role_granted,
    identity_events.RoleRevoked: role_revoked,
    identity_events.OwnershipChanged: Batched(ownership_changed),
}


async def estate_of(session: AsyncSession, estate_id: uuid.UUID) -> store.Estate | None:
    return await session.get(store.Estate, estate_id)


# The accounts a notice reaches (named users, the estate's members of its roles, the community's
# supervisors, the company's staff of its company roles, the owners of its units), each with their
# contacts and their setting for the notice's kind alone: one round trip, as every event of a
# month's fee assessment asks it once.
_AUDIENCE = """
WITH estate AS (
    SELECT community_id, company_id FROM estates WHERE estate_id = $1
), found AS (
    SELECT unnest($2::uuid[]) AS user_id
    UNION
    SELECT user_id FROM members WHERE estate_id = $1 AND role = ANY($3::text[])
    UNION
    SELECT s.user_id FROM scope_members s JOIN estate e
        ON s.scope = 'community' AND s.scope_id = e.community_id
    WHERE $4::boolean AND s.role = $5
    UNION
    SELECT s.user_id FROM scope_members s JOIN estate e
        ON s.scope = 'company' AND s.scope_id = e.company_id
    WHERE s.role = ANY($6::text[])
    UNION
    SELECT o.user_id FROM unit_owners u JOIN owner_users o
        ON o.estate_id = u.estate_id AND o.owner_id = ANY(u.owner_ids)
    WHERE u.estate_id = $1 AND u.unit_id = ANY($7::uuid[])
)
SELECT f.user_id, c.email, c.phone, c.quiet_start, c.quiet_end, k.channels, k.digest
FROM found f
LEFT JOIN contacts c ON c.user_id = f.user_id
LEFT JOIN kind_preferences k ON k.user_id = f.user_id AND k.kind = $8
"""


# The same for a notice that names its accounts alone (a vote's receipt, a sign-in, an answered
# suggestion): the hottest notices, planned and run by the server in a quarter of the union's
# time (0.3 ms against 1.1 ms for a vote's receipt).
_NAMED = """
SELECT f.user_id, c.email, c.phone, c.quiet_start, c.quiet_end, k.channels, k.digest
FROM (SELECT DISTINCT unnest($1::uuid[]) AS user_id) f
LEFT JOIN contacts c ON c.user_id = f.user_id
LEFT JOIN kind_preferences k ON k.user_id = f.user_id AND k.kind = $2
"""


async def audience(raw: asyncpg.Connection, estate_id: uuid.UUID, notice: Notice) -> list[Person]:
    """The people a notice reaches, in a stable order (by account id), with their contacts and
    their setting for the notice's kind (defaults where they have none). `raw` is the driver's
    connection of the estate's transaction (`xinyi_kit.db.driver_connection`)."""
    if not (notice.roles or notice.community_supervisors or notice.units):
        named = await raw.fetch(_NAMED, [uuid.UUID(u) for u in notice.users], notice.kind)
        return sorted((_person(notice.kind, row) for row in named), key=lambda p: p.user_id)
    rows = await raw.fetch(
        _AUDIENCE,
        estate_id,
        [uuid.UUID(u) for u in notice.users],
        sorted(notice.roles),
        notice.community_supervisors,
        Role.COMMUNITY_SUPERVISOR.value,
        sorted(notice.roles & COMPANY_ROLES),
        [uuid.UUID(u) for u in notice.units],
        notice.kind,
    )
    return sorted((_person(notice.kind, row) for row in rows), key=lambda p: p.user_id)


def _person(kind: str, row: Mapping[str, Any]) -> Person:
    setting = (
        ()
        if row["channels"] is None
        else ((kind, KindSetting(tuple(row["channels"]), row["digest"])),)
    )
    return Person(
        user_id=str(row["user_id"]),
        email=row["email"] or "",
        phone=row["phone"] or "",
        quiet_start=row["quiet_start"] or "",
        quiet_end=row["quiet_end"] or "",
        settings=setting,
    )
