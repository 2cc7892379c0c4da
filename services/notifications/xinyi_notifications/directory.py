"""Who is who, as identity's events tell it: estates with their community and company, role
grants, units' owners and the accounts that speak for them. Turns an audience into people."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from google.protobuf.message import Message
from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import events_pb2 as identity_events
from xinyi_kit.consumer import Handler
from xinyi_kit.permissions import COMPANY, Role
from xinyi_notifications import store
from xinyi_notifications.plan import KindSetting, Person
from xinyi_notifications.rules import Notice

COMPANY_ROLES = frozenset(r.value for r in COMPANY)


def _uuid(value: str) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


async def _estate(session: AsyncSession, estate_id: uuid.UUID) -> store.Estate:
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


async def ownership_changed(
    session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
) -> None:
    assert isinstance(event, identity_events.OwnershipChanged)
    await session.execute(
        insert(store.UnitOwners)
        .values(
            estate_id=uuid.UUID(event.estate_id),
            unit_id=uuid.UUID(event.unit_id),
            owner_ids=list(event.owner_ids),
        )
        .on_conflict_do_update(
            index_elements=["estate_id", "unit_id"], set_={"owner_ids": list(event.owner_ids)}
        )
    )


IDENTITY: Mapping[type[Message], Handler] = {
    identity_events.EstateCreated: estate_created,
    identity_events.CompanyAssigned: company_assigned,
    identity_events.RoleGranted: role_granted,
    identity_events.RoleRevoked: role_revoked,
    identity_events.OwnershipChanged: ownership_changed,
}


async def estate_of(session: AsyncSession, estate_id: uuid.UUID) -> store.Estate | None:
    return await session.get(store.Estate, estate_id)


async def recipients(session: AsyncSession, estate_id: uuid.UUID, notice: Notice) -> list[str]:
    """The accounts a notice reaches, in a stable order."""
    found: set[uuid.UUID] = {uuid.UUID(u) for u in notice.users}
    estate = await estate_of(session, estate_id)
    if notice.roles:
        found.update(
            (
                await session.execute(
                    select(store.Member.user_id).where(
                        store.Member.estate_id == estate_id,
                        store.Member.role.in_(sorted(notice.roles)),
                    )
                )
            ).scalars()
        )
    scopes = []
    if notice.community_supervisors and estate is not None and estate.community_id:
        scopes.append(
            (store.ScopeMember.scope == "community")
            & (store.ScopeMember.scope_id == estate.community_id)
            & (store.ScopeMember.role == Role.COMMUNITY_SUPERVISOR.value)
        )
    company_roles = sorted(notice.roles & COMPANY_ROLES)
    if company_roles and estate is not None and estate.company_id:
        scopes.append(
            (store.ScopeMember.scope == "company")
            & (store.ScopeMember.scope_id == estate.company_id)
            & (store.ScopeMember.role.in_(company_roles))
        )
    if scopes:
        found.update(
            (await session.execute(select(store.ScopeMember.user_id).where(or_(*scopes)))).scalars()
        )
    if notice.units:
        owner_ids = [
            o
            for row in (
                await session.execute(
                    select(store.UnitOwners.owner_ids).where(
                        store.UnitOwners.estate_id == estate_id,
                        store.UnitOwners.unit_id.in_([uuid.UUID(u) for u in notice.units]),
                    )
                )
            ).scalars()
            for o in row
        ]
        if owner_ids:
            found.update(
                (
                    await session.execute(
                        select(store.OwnerUser.user_id).where(
                            store.OwnerUser.estate_id == estate_id,
                            store.OwnerUser.owner_id.in_(owner_ids),
                        )
                    )
                ).scalars()
            )
    return sorted(str(u) for u in found)


async def people(session: AsyncSession, user_ids: list[str]) -> dict[str, Person]:
    """Each recipient's contacts and settings (defaults where they have none)."""
    ids = [uuid.UUID(u) for u in user_ids]
    contacts = {
        str(c.user_id): c
        for c in (
            await session.execute(select(store.Contact).where(store.Contact.user_id.in_(ids)))
        ).scalars()
    }
    settings: dict[str, list[tuple[str, KindSetting]]] = {}
    for k in (
        await session.execute(
            select(store.KindPreference).where(store.KindPreference.user_id.in_(ids))
        )
    ).scalars():
        settings.setdefault(str(k.user_id), []).append(
            (k.kind, KindSetting(tuple(k.channels), k.digest))
        )
    out = {}
    for user in user_ids:
        c = contacts.get(user)
        out[user] = Person(
            user_id=user,
            email=c.email if c else "",
            phone=c.phone if c else "",
            quiet_start=c.quiet_start if c else "",
            quiet_end=c.quiet_end if c else "",
            settings=tuple(settings.get(user, ())),
        )
    return out
