"""Identity's servicer, part three: an estate's buildings, units and owners over time."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import datetime, time
from typing import Any

import grpc
from google.protobuf.message import Message
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.identity.v1 import events_pb2, identity_pb2
from xinyi_identity import domain, imports, store
from xinyi_identity.common import SHANGHAI, stamp
from xinyi_kit import audit, clock, idempotency
from xinyi_kit.db import Database, xact_lock
from xinyi_kit.errors import FailedPrecondition, InvalidArgument
from xinyi_kit.outbox import Outbox
from xinyi_kit.permissions import Action, allowed, authorize_estate

MAX_CSV_BYTES = 20 * 1024 * 1024


async def load_holdings(
    session: AsyncSession, estate_id: uuid.UUID
) -> tuple[
    imports.Holdings, dict[imports.UnitKey, uuid.UUID], dict[str, uuid.UUID], dict[str, uuid.UUID]
]:
    """The estate as the import rules see it, with the ids behind each key."""
    buildings = {
        b.building_id: b.name
        for b in (
            await session.execute(
                select(store.Building).where(store.Building.estate_id == estate_id)
            )
        ).scalars()
    }
    units: dict[imports.UnitKey, imports.UnitRow] = {}
    unit_ids: dict[imports.UnitKey, uuid.UUID] = {}
    by_id: dict[uuid.UUID, imports.UnitKey] = {}
    for u in (
        await session.execute(select(store.Unit).where(store.Unit.estate_id == estate_id))
    ).scalars():
        key = (buildings[u.building_id], u.number)
        units[key] = imports.UnitRow(key[0], u.number, u.unit_type, u.area_centi_m2)
        unit_ids[key] = u.unit_id
        by_id[u.unit_id] = key
    owners: dict[str, imports.OwnerRow] = {}
    owner_ids: dict[str, uuid.UUID] = {}
    key_of: dict[uuid.UUID, str] = {}
    for o in (
        await session.execute(select(store.Owner).where(store.Owner.estate_id == estate_id))
    ).scalars():
        owners[o.key] = imports.OwnerRow(o.key, o.kind, o.name, o.phone, o.id_number)
        owner_ids[o.key] = o.owner_id
        key_of[o.owner_id] = o.key
    holders: dict[imports.UnitKey, set[str]] = {}
    for unit_id, owner_id in (
        await session.execute(
            select(store.Ownership.unit_id, store.Ownership.owner_id).where(
                store.Ownership.estate_id == estate_id, store.Ownership.valid_to.is_(None)
            )
        )
    ).all():
        holders.setdefault(by_id[unit_id], set()).add(key_of[owner_id])
    return (
        imports.Holdings(units, owners, {k: frozenset(v) for k, v in holders.items()}),
        unit_ids,
        buildings_by_name(buildings),
        owner_ids,
    )


def buildings_by_name(buildings: dict[uuid.UUID, str]) -> dict[str, uuid.UUID]:
    return {name: building_id for building_id, name in buildings.items()}


def _changes_pb(changes: imports.ChangeSet, names: dict[str, str]) -> identity_pb2.ImportChanges:
    return identity_pb2.ImportChanges(
        buildings_added=len(changes.buildings_added),
        units_added=len(changes.units_added),
        units_changed=len(changes.units_changed),
        owners_added=len(changes.owners_added),
        owners_changed=len(changes.owners_changed),
        transfers=len(changes.transfers),
        units_unchanged=changes.units_unchanged,
        details=changes.details(names),
    )


def _token(*parts: str) -> str:
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode()


def _untoken(token: str, count: int) -> list[str]:
    try:
        parts = base64.urlsafe_b64decode(token.encode()).decode().split("\x1f")
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("page_token is not one this service issued") from None
    if len(parts) != count:
        raise InvalidArgument("page_token is not one this service issued")
    return parts


class RosterApi:
    db: Database
    outbox: Outbox

    async def ImportEstate(
        self, request: identity_pb2.ImportEstateRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ImportEstateResponse:
        principal, estate_id = authorize_estate(Action.ESTATE_IMPORT, request.estate_id)
        if len(request.csv) > MAX_CSV_BYTES:
            raise InvalidArgument(f"the file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB")
        if not request.csv.strip():
            raise InvalidArgument("the file is empty")
        if request.effective_on:
            day = domain.parse_date(request.effective_on, "effective_on")
            effective = datetime.combine(day, time(0), tzinfo=SHANGHAI)
        else:
            effective = clock.now()
        try:
            incoming = await asyncio.to_thread(imports.parse, request.csv)
        except imports.ImportRejected as exc:
            return identity_pb2.ImportEstateResponse(
                problems=[
                    identity_pb2.ImportProblem(line=p.line, column=p.column, message=p.message)
                    for p in exc.problems
                ],
                applied=False,
            )

        async def run() -> identity_pb2.ImportEstateResponse:
            if await session.get(store.Estate, estate_id) is None:
                raise FailedPrecondition("the estate is not registered in identity")
            current, unit_ids, building_ids, owner_ids = await load_holdings(session, estate_id)
            changes = imports.diff(current, incoming)
            names = {k: o.name for k, o in current.owners.items()}
            if request.dry_run or changes.empty:
                return identity_pb2.ImportEstateResponse(
                    changes=_changes_pb(changes, names), applied=False
                )
            await self._apply(
                session, estate_id, changes, effective, unit_ids, building_ids, owner_ids, incoming
            )
            summary = _changes_pb(changes, names)
            await audit.record(
                session,
                estate_id,
                "estate.import",
                "",
                {
                    "units_added": summary.units_added,
                    "units_changed": summary.units_changed,
                    "owners_added": summary.owners_added,
                    "owners_changed": summary.owners_changed,
                    "transfers": summary.transfers,
                },
            )
            return identity_pb2.ImportEstateResponse(changes=summary, applied=True)

        async with self.db.estate_tx(estate_id) as session:
            # One import of an estate at a time: each diffs against what the last one wrote.
            await xact_lock(session, f"import:{estate_id}")
            response: Message = await idempotency.once(
                session,
                estate_id,
                f"{principal.user_id}:ImportEstate",
                request.idempotency_key,
                request,
                identity_pb2.ImportEstateResponse,
                run,
            )
        assert isinstance(response, identity_pb2.ImportEstateResponse)
        return response

    async def _apply(
        self,
        session: AsyncSession,
        estate_id: uuid.UUID,
        changes: imports.ChangeSet,
        effective: datetime,
        unit_ids: dict[imports.UnitKey, uuid.UUID],
        building_ids: dict[str, uuid.UUID],
        owner_ids: dict[str, uuid.UUID],
        incoming: imports.Holdings,
    ) -> None:
        rows: list[dict[str, Any]]
        if changes.buildings_added:
            rows = [
                {"estate_id": estate_id, "building_id": uuid.uuid4(), "name": name}
                for name in changes.buildings_added
            ]
            await session.execute(insert(store.Building), rows)
            building_ids.update({r["name"]: r["building_id"] for r in rows})
        if changes.owners_added:
            rows = [
                {
                    "estate_id": estate_id,
                    "owner_id": uuid.uuid4(),
                    "key": o.key,
                    "kind": o.kind,
                    "name": o.name,
                    "phone": o.phone,
                    "id_number": o.id_number,
                }
                for o in changes.owners_added
            ]
            await session.execute(insert(store.Owner), rows)
            owner_ids.update({r["key"]: r["owner_id"] for r in rows})
        for _, owner in changes.owners_changed:
            await session.execute(
                update(store.Owner)
                .where(store.Owner.estate_id == estate_id, store.Owner.key == owner.key)
                .values(
                    kind=owner.kind, name=owner.name, phone=owner.phone, id_number=owner.id_number
                )
            )
        touched: dict[imports.UnitKey, frozenset[str]] = {}
        if changes.units_added:
            rows = [
                {
                    "estate_id": estate_id,
                    "unit_id": uuid.uuid4(),
                    "building_id": building_ids[u.building],
                    "number": u.number,
                    "unit_type": u.unit_type,
                    "area_centi_m2": u.area_centi_m2,
                }
                for u in changes.units_added
            ]
            await session.execute(insert(store.Unit), rows)
            for u, r in zip(changes.units_added, rows, strict=True):
                unit_ids[(u.building, u.number)] = r["unit_id"]
            touched.update(changes.new_unit_holders)
        for old, new in changes.units_changed:
            await session.execute(
                update(store.Unit)
                .where(
                    store.Unit.estate_id == estate_id,
                    store.Unit.unit_id == unit_ids[(old.building, old.number)],
                )
                .values(unit_type=new.unit_type, area_centi_m2=new.area_centi_m2)
            )
            key = (new.building, new.number)
            touched.setdefault(key, incoming.holders.get(key, frozenset()))
        if changes.transfers:
            moved = [unit_ids[t.unit] for t in changes.transfers]
            started = (
                await session.execute(
                    select(store.Ownership.valid_from)
                    .where(
                        store.Ownership.estate_id == estate_id,
                        store.Ownership.unit_id.in_(moved),
                        store.Ownership.valid_to.is_(None),
                        store.Ownership.valid_from >= effective,
                    )
                    .limit(1)
                )
            ).first()
            if started is not None:
                raise FailedPrecondition(
                    "a transfer cannot take effect before the current owners' start; "
                    "give a later effective date"
                )
            await session.execute(
                update(store.Ownership)
                .where(
                    store.Ownership.estate_id == estate_id,
                    store.Ownership.unit_id.in_(moved),
                    store.Ownership.valid_to.is_(None),
                )
                .values(valid_to=effective)
            )
            for t in changes.transfers:
                touched[t.unit] = t.after
        # New holders for new units and transfers; a unit whose area alone changed keeps its own.
        area_only = {(o.building, o.number) for o, _ in changes.units_changed} - {
            t.unit for t in changes.transfers
        }
        ownership_rows = [
            {
                "estate_id": estate_id,
                "unit_id": unit_ids[unit],
                "owner_id": owner_ids[key],
                "valid_from": effective,
                "valid_to": None,
            }
            for unit, keys in touched.items()
            if unit not in area_only
            for key in sorted(keys)
        ]
        if ownership_rows:
            await session.execute(insert(store.Ownership), ownership_rows)
        rows_of = {(u.building, u.number): u for u in incoming.units.values()}
        events = []
        for unit in sorted(touched):
            event = events_pb2.OwnershipChanged(
                estate_id=str(estate_id),
                unit_id=str(unit_ids[unit]),
                owner_ids=[str(owner_ids[k]) for k in sorted(touched[unit])],
                exclusive_area_centi_m2=rows_of[unit].area_centi_m2,
                unit_type=rows_of[unit].unit_type,
                building=unit[0],
                number=unit[1],
            )
            event.valid_from.FromDatetime(effective)
            events.append(("ownership_changed", event))
        await self.outbox.emit_many(session, estate_id, events)

    async def ListUnits(
        self, request: identity_pb2.ListUnitsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListUnitsResponse:
        _, estate_id = authorize_estate(Action.UNITS_READ, request.estate_id)
        size = request.page_size or 200
        if not 1 <= size <= 1000:
            raise InvalidArgument("page_size must be between 1 and 1000")
        query = (
            select(store.Unit, store.Building.name)
            .join(
                store.Building,
                and_(
                    store.Building.estate_id == store.Unit.estate_id,
                    store.Building.building_id == store.Unit.building_id,
                ),
            )
            .where(store.Unit.estate_id == estate_id)
            .order_by(store.Building.name, store.Unit.number)
            .limit(size + 1)
        )
        if request.page_token:
            building, number = _untoken(request.page_token, 2)
            query = query.where(
                or_(
                    store.Building.name > building,
                    and_(store.Building.name == building, store.Unit.number > number),
                )
            )
        async with self.db.estate_tx(estate_id) as session:
            rows = (await session.execute(query)).all()
            more = len(rows) > size
            rows = rows[:size]
            holders: dict[uuid.UUID, list[str]] = {}
            if rows:
                found = await session.execute(
                    select(store.Ownership.unit_id, store.Ownership.owner_id).where(
                        store.Ownership.estate_id == estate_id,
                        store.Ownership.unit_id.in_([u.unit_id for u, _ in rows]),
                        store.Ownership.valid_to.is_(None),
                    )
                )
                for unit_id, owner_id in found.all():
                    holders.setdefault(unit_id, []).append(str(owner_id))
        return identity_pb2.ListUnitsResponse(
            units=[
                identity_pb2.Unit(
                    unit_id=str(u.unit_id),
                    estate_id=str(estate_id),
                    building=b,
                    number=u.number,
                    unit_type=u.unit_type,
                    exclusive_area_centi_m2=u.area_centi_m2,
                    owner_ids=sorted(holders.get(u.unit_id, [])),
                )
                for u, b in rows
            ],
            next_page_token=_token(rows[-1][1], rows[-1][0].number) if more and rows else "",
        )

    async def ListOwners(
        self, request: identity_pb2.ListOwnersRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListOwnersResponse:
        principal, estate_id = authorize_estate(Action.UNITS_READ, request.estate_id)
        personal = allowed(principal, Action.OWNERS_READ_PERSONAL, estate_id)
        size = request.page_size or 200
        if not 1 <= size <= 1000:
            raise InvalidArgument("page_size must be between 1 and 1000")
        query = (
            select(store.Owner)
            .where(store.Owner.estate_id == estate_id)
            .order_by(store.Owner.owner_id)
            .limit(size + 1)
        )
        if request.page_token:
            query = query.where(
                store.Owner.owner_id
                > domain.parse_uuid(_untoken(request.page_token, 1)[0], "page_token")
            )
        async with self.db.estate_tx(estate_id) as session:
            owners = list((await session.execute(query)).scalars())
            more = len(owners) > size
            owners = owners[:size]
            units: dict[uuid.UUID, list[str]] = {}
            if owners:
                found = await session.execute(
                    select(store.Ownership.owner_id, store.Ownership.unit_id).where(
                        store.Ownership.estate_id == estate_id,
                        store.Ownership.owner_id.in_([o.owner_id for o in owners]),
                        store.Ownership.valid_to.is_(None),
                    )
                )
                for owner_id, unit_id in found.all():
                    units.setdefault(owner_id, []).append(str(unit_id))
        me = principal.user_id

        def visible(o: store.Owner) -> bool:
            # Other owners' personal data reaches owners only as aggregates.
            return personal or (o.user_id is not None and str(o.user_id) == me)

        return identity_pb2.ListOwnersResponse(
            owners=[
                identity_pb2.Owner(
                    owner_id=str(o.owner_id),
                    estate_id=str(estate_id),
                    kind=o.kind,
                    name=o.name if visible(o) or o.kind != "person" else "",
                    phone=o.phone if visible(o) else "",
                    id_number=o.id_number if visible(o) else "",
                    unit_ids=sorted(units.get(o.owner_id, [])),
                    user_id=str(o.user_id or "") if visible(o) else "",
                )
                for o in owners
            ],
            next_page_token=_token(str(owners[-1].owner_id)) if more and owners else "",
        )

    async def GetOwnershipRoll(
        self, request: identity_pb2.GetOwnershipRollRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetOwnershipRollResponse:
        _, estate_id = authorize_estate(Action.ROLL_READ, request.estate_id)
        as_of = (
            request.as_of.ToDatetime(tzinfo=SHANGHAI).astimezone(SHANGHAI)
            if request.HasField("as_of")
            else clock.now()
        )
        async with self.db.estate_tx(estate_id) as session:
            rows = (
                await session.execute(
                    select(store.Unit, store.Building.name, store.Ownership.owner_id)
                    .join(
                        store.Building,
                        and_(
                            store.Building.estate_id == store.Unit.estate_id,
                            store.Building.building_id == store.Unit.building_id,
                        ),
                    )
                    .join(
                        store.Ownership,
                        and_(
                            store.Ownership.estate_id == store.Unit.estate_id,
                            store.Ownership.unit_id == store.Unit.unit_id,
                        ),
                    )
                    .where(
                        store.Unit.estate_id == estate_id,
                        store.Ownership.valid_from <= as_of,
                        or_(store.Ownership.valid_to.is_(None), store.Ownership.valid_to > as_of),
                    )
                    .order_by(store.Building.name, store.Unit.number)
                )
            ).all()
        entries: dict[uuid.UUID, identity_pb2.RollEntry] = {}
        for unit, building, owner_id in rows:
            entry = entries.get(unit.unit_id)
            if entry is None:
                entry = identity_pb2.RollEntry(
                    unit_id=str(unit.unit_id),
                    building=building,
                    number=unit.number,
                    exclusive_area_centi_m2=unit.area_centi_m2,
                )
                entries[unit.unit_id] = entry
            entry.owner_ids.append(str(owner_id))
        for entry in entries.values():
            entry.owner_ids.sort()
        return identity_pb2.GetOwnershipRollResponse(
            entries=list(entries.values()), as_of=stamp(as_of)
        )
