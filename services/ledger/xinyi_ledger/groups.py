"""Merged courtyards (合并管理): estates one company manages as one while each keeps its own fund,
owners and votes. A cost they share is split by the estates' exclusive area into one payment
request per estate, which each estate's approving body approves (or not) on its own: sharing a
cost never moves one estate's money for another.

Membership comes from identity's `estates_merged`. A request is made in one transaction across
the members, so either every estate gets its share or none does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

import grpc
from google.protobuf.message import Message
from sqlalchemy import BigInteger, DateTime, String, Text, func, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from xinyi.common.v1 import common_pb2
from xinyi.identity.v1 import events_pb2 as identity_events
from xinyi.ledger.v1 import groups_pb2, groups_pb2_grpc
from xinyi_kit import audit, clock, idempotency
from xinyi_kit.consumer import Handler
from xinyi_kit.db import Database
from xinyi_kit.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from xinyi_kit.permissions import Action, allowed, authorize_estate
from xinyi_ledger import domain, money, store
from xinyi_ledger.api import LedgerApi, State
from xinyi_ledger.fees import Unit


class GroupRow(store.Base):
    __tablename__ = "management_groups"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(UUID)
    name: Mapped[str] = mapped_column(String(200))
    members: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID))


class ShareRow(store.Base):
    __tablename__ = "shared_cost_shares"
    estate_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    cost_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(UUID)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    payee: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    area_centi_m2: Mapped[int] = mapped_column(BigInteger)
    group_area_centi_m2: Mapped[int] = mapped_column(BigInteger)
    share_fen: Mapped[int] = mapped_column(BigInteger)
    disbursement_id: Mapped[uuid.UUID | None] = mapped_column(UUID, nullable=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def split_by_area(amount_fen: int, areas: Mapping[uuid.UUID, int]) -> dict[uuid.UUID, int]:
    """Each estate's share of `amount_fen` in proportion to its area, in whole fen that add up to
    the amount exactly: the fen left by rounding down go to the largest remainders (ties to the
    larger area, then the smaller id, so the split never depends on order)."""
    total = sum(areas.values())
    if total <= 0:
        raise ValueError("the estates have no area to split by")
    exact = {e: divmod(amount_fen * a, total) for e, a in areas.items()}
    shares = {e: whole for e, (whole, _) in exact.items()}
    left = amount_fen - sum(shares.values())
    order = sorted(areas, key=lambda e: (-exact[e][1], -areas[e], str(e)))
    for e in order[:left]:
        shares[e] += 1
    return shares


async def _areas(session: AsyncSession, members: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(Unit.estate_id, func.coalesce(func.sum(Unit.area_centi_m2), 0))
        .where(Unit.estate_id.in_(members))
        .group_by(Unit.estate_id)
    )
    found = {e: int(a) for e, a in rows.all()}
    return {e: found.get(e, 0) for e in members}


class GroupApi(groups_pb2_grpc.GroupServiceServicer):
    def __init__(self, db: Database, ledger: LedgerApi) -> None:
        self.db = db
        self.ledger = ledger

    async def _group(self, session: AsyncSession, estate_id: uuid.UUID) -> GroupRow:
        row = await session.get(GroupRow, estate_id)
        if row is None:
            raise NotFound("the estate is not managed together with others")
        return row

    async def GetGroup(
        self, request: groups_pb2.GetGroupRequest, context: grpc.aio.ServicerContext
    ) -> groups_pb2.Group:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            group = await self._group(session, estate_id)
        # The members' areas are the group's shared key, not any estate's private data.
        async with self.db.system_tx() as session:
            areas = await _areas(session, group.members)
        return groups_pb2.Group(
            group_id=str(group.group_id),
            name=group.name,
            members=[
                groups_pb2.GroupMember(estate_id=str(e), area_centi_m2=areas[e])
                for e in group.members
            ],
        )

    async def RequestSharedCost(
        self, request: groups_pb2.RequestSharedCostRequest, context: grpc.aio.ServicerContext
    ) -> groups_pb2.SharedCost:
        principal, estate_id = authorize_estate(Action.DISBURSEMENT_REQUEST, request.estate_id)
        amount = domain.check_amount(request.amount_fen)
        payee, purpose = request.payee.strip(), request.purpose.strip()
        if not payee or len(payee) > 200:
            raise InvalidArgument("name the payee (at most 200 characters)")
        if not purpose or len(purpose) > 1500:
            raise InvalidArgument("say what the shared cost is for (at most 1,500 characters)")
        async with self.db.estate_tx(estate_id) as session:
            group = await self._group(session, estate_id)
        barred = [
            e for e in group.members if not allowed(principal, Action.DISBURSEMENT_REQUEST, e)
        ]
        if barred:
            raise PermissionDenied(
                "a shared cost is requested by the company serving every estate of the group; "
                f"you may not request payments for {len(barred)} of them"
            )

        async def run() -> groups_pb2.SharedCost:
            areas = await _areas(session, group.members)
            if any(a <= 0 for a in areas.values()):
                raise FailedPrecondition(
                    "an estate of the group has no units with area yet: import its units first"
                )
            shares = split_by_area(amount, areas)
            if any(s == 0 for s in shares.values()):
                raise InvalidArgument("the amount is too small to give every estate a share")
            cost_id, now = uuid.uuid4(), clock.now()
            group_area = sum(areas.values())
            out = groups_pb2.SharedCost(
                cost_id=str(cost_id),
                group_id=str(group.group_id),
                amount_fen=amount,
                payee=payee,
                purpose=purpose,
                group_area_centi_m2=group_area,
            )
            for member in group.members:
                kind = await store.account_type(session, member, request.expense_code)
                if kind != domain.AccountType.EXPENSE:
                    raise InvalidArgument("expense_code is an expense account of every estate")
                share = shares[member]
                ladder = await self.ledger._thresholds(session, member)
                row = store.Disbursement(
                    estate_id=member,
                    disbursement_id=uuid.uuid4(),
                    state=State.DISBURSEMENT_STATE_REQUESTED,
                    amount_fen=share,
                    payee=payee,
                    purpose=(
                        f"{purpose}（{group.name}共同费用，总额 {money.format_yuan(amount)} 元，"
                        f"按面积 {areas[member] / 100:.2f}/{group_area / 100:.2f} m² 分摊）"
                    ),
                    expense_code=request.expense_code,
                    budget_line_id="",
                    voucher_sha256=list(request.voucher_sha256),
                    approvals_required=money.approvals_required(share, ladder),
                    requested_by=uuid.UUID(principal.user_id),
                    requested_at=now,
                    maintenance_use_id="",
                )
                session.add(row)
                session.add(
                    ShareRow(
                        estate_id=member,
                        cost_id=cost_id,
                        group_id=group.group_id,
                        total_fen=amount,
                        payee=payee,
                        purpose=purpose,
                        area_centi_m2=areas[member],
                        group_area_centi_m2=group_area,
                        share_fen=share,
                        disbursement_id=row.disbursement_id,
                        requested_at=now,
                    )
                )
                await session.flush()
                await self.ledger._emit_disbursement(session, row, "disbursement_requested")
                await audit.record(
                    session,
                    member,
                    "shared_cost.request",
                    str(cost_id),
                    {"share_fen": share, "total_fen": amount, "group": str(group.group_id)},
                )
                out.shares.append(
                    groups_pb2.Share(
                        estate_id=str(member),
                        area_centi_m2=areas[member],
                        amount_fen=share,
                        disbursement=await self.ledger._disbursement(session, row),
                    )
                )
            return out

        async with self.db.system_tx() as session:
            return await idempotency.once(
                session,
                estate_id,
                f"{principal.user_id}:RequestSharedCost",
                request.idempotency_key,
                request,
                groups_pb2.SharedCost,
                run,
            )

    async def ListSharedCosts(
        self, request: groups_pb2.ListSharedCostsRequest, context: grpc.aio.ServicerContext
    ) -> groups_pb2.ListSharedCostsResponse:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            rows = (
                await session.execute(
                    select(ShareRow)
                    .where(ShareRow.estate_id == estate_id)
                    .order_by(ShareRow.requested_at.desc())
                    .limit(500)
                )
            ).scalars()
            costs = []
            for r in rows:
                d = (
                    await session.get(store.Disbursement, (estate_id, r.disbursement_id))
                    if r.disbursement_id
                    else None
                )
                costs.append(
                    groups_pb2.SharedCost(
                        cost_id=str(r.cost_id),
                        group_id=str(r.group_id),
                        amount_fen=r.total_fen,
                        payee=r.payee,
                        purpose=r.purpose,
                        group_area_centi_m2=r.group_area_centi_m2,
                        shares=[
                            groups_pb2.Share(
                                estate_id=str(estate_id),
                                area_centi_m2=r.area_centi_m2,
                                amount_fen=r.share_fen,
                                disbursement=await self.ledger._disbursement(session, d)
                                if d
                                else None,
                            )
                        ],
                    )
                )
            return groups_pb2.ListSharedCostsResponse(costs=costs)


def identity_handlers() -> Mapping[type[Message], Handler]:
    async def merged(
        session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
    ) -> None:
        assert isinstance(event, identity_events.EstatesMerged)
        await session.merge(
            GroupRow(
                estate_id=uuid.UUID(event.estate_id),
                group_id=uuid.UUID(event.group_id),
                name=event.name[:200],
                members=[uuid.UUID(e) for e in event.estate_ids],
            )
        )

    return {identity_events.EstatesMerged: merged}
