"""The owners' decisions the ledger acts on (voting's ballot_decided), and the budgets they
approve: a budget becomes binding only when the assembly's ballot naming it is final."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC

from google.protobuf.message import Message
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.common.v1 import common_pb2
from xinyi.ledger.v1 import events_pb2, ledger_pb2
from xinyi.voting.v1 import events_pb2 as voting_events
from xinyi_kit import clock
from xinyi_kit.consumer import Handler
from xinyi_kit.errors import FailedPrecondition, InvalidArgument
from xinyi_kit.outbox import Outbox
from xinyi_ledger import domain, store

State = events_pb2.DisbursementState


def voting_handlers(outbox: Outbox) -> Mapping[type[Message], Handler]:
    async def ballot_decided(
        session: AsyncSession, envelope: common_pb2.EventEnvelope, event: Message
    ) -> None:
        assert isinstance(event, voting_events.BallotDecided)
        estate_id = uuid.UUID(event.estate_id)
        decided_at = (
            event.decided_at.ToDatetime(tzinfo=UTC) if event.HasField("decided_at") else clock.now()
        )
        await session.execute(
            insert(store.Decision)
            .values(
                estate_id=estate_id,
                subject=event.subject_ref,
                approved=event.approved,
                ballot_id=uuid.UUID(event.ballot_id) if event.ballot_id else None,
                decided_at=decided_at,
            )
            .on_conflict_do_update(
                index_elements=[store.Decision.estate_id, store.Decision.subject],
                set_={"approved": event.approved, "decided_at": decided_at},
            )
        )
        kind, _, subject_id = event.subject_ref.partition(":")
        if kind == "budget" and event.approved:
            try:
                budget_id = uuid.UUID(subject_id)
            except ValueError:
                return
            budget = await session.get(store.Budget, (estate_id, budget_id), with_for_update=True)
            if budget is not None and budget.state == "draft":
                budget.state, budget.approved_at = "approved", decided_at
                total = await _total(session, estate_id, budget_id)
                lines = (
                    await session.execute(
                        select(store.BudgetLine)
                        .where(
                            store.BudgetLine.estate_id == estate_id,
                            store.BudgetLine.budget_id == budget_id,
                        )
                        .order_by(store.BudgetLine.line_id)
                    )
                ).scalars()
                await outbox.emit(
                    session,
                    estate_id,
                    "budget_approved",
                    events_pb2.BudgetApproved(
                        estate_id=str(estate_id),
                        budget_id=str(budget_id),
                        year=budget.year,
                        total_fen=total,
                        lines=[
                            events_pb2.BudgetLineApproved(
                                line_id=ln.line_id,
                                name=ln.name,
                                expense_code=ln.expense_code,
                                amount_fen=ln.amount_fen,
                            )
                            for ln in lines
                        ],
                    ),
                )

    return {voting_events.BallotDecided: ballot_decided}


async def approved(session: AsyncSession, estate_id: uuid.UUID, subject: str) -> bool:
    row = await session.get(store.Decision, (estate_id, subject))
    return bool(row and row.approved)


async def require_maintenance_use(session: AsyncSession, estate_id: uuid.UUID, use_id: str) -> None:
    """The maintenance fund is spent only on a use the assembly approved (art. 278 item 5)."""
    if not await approved(session, estate_id, f"maintenance_use:{use_id}"):
        raise FailedPrecondition(
            f"the owners' assembly has not approved maintenance_use:{use_id}; the maintenance "
            "fund is used only after such a decision is final"
        )


async def _total(session: AsyncSession, estate_id: uuid.UUID, budget_id: uuid.UUID) -> int:
    total = await session.execute(
        select(func.coalesce(func.sum(store.BudgetLine.amount_fen), 0)).where(
            store.BudgetLine.estate_id == estate_id, store.BudgetLine.budget_id == budget_id
        )
    )
    return int(total.scalar_one())


async def save_budget(
    session: AsyncSession, estate_id: uuid.UUID, year: int, lines: list[ledger_pb2.BudgetLine]
) -> store.Budget:
    if not 2000 <= year <= 2200:
        raise InvalidArgument("year must be a calendar year like 2026")
    if not lines:
        raise InvalidArgument("a budget has at least one line")
    ids: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.name.strip():
            raise InvalidArgument(f"line {n} needs a name")
        kind = await store.account_type(session, estate_id, line.expense_code)
        if not domain.disbursable(line.expense_code, kind):
            raise InvalidArgument(f"line {n}: expense_code is an expense account (5001-5008)")
        if line.amount_fen < 0 or line.amount_fen > domain.MAX_AMOUNT_FEN:
            raise InvalidArgument(f"line {n}: the amount is in fen, zero or more")
        line_id = line.line_id.strip() or f"L{n}"
        if line_id in ids or len(line_id) > 64:
            raise InvalidArgument(f"line ids must be unique and short: {line_id[:40]!r}")
        ids.add(line_id)
    budget = (
        (
            await session.execute(
                select(store.Budget)
                .where(store.Budget.estate_id == estate_id, store.Budget.year == year)
                .with_for_update()
            )
        )
        .scalars()
        .first()
    )
    if budget is None:
        budget = store.Budget(
            estate_id=estate_id,
            budget_id=uuid.uuid4(),
            year=year,
            state="draft",
            created_at=clock.now(),
        )
        session.add(budget)
        await session.flush()
    elif budget.state != "draft":
        raise FailedPrecondition(
            f"the {year} budget was approved by the owners' assembly; "
            "changing it needs a new decision"
        )
    await session.execute(
        store.BudgetLine.__table__.delete().where(  # type: ignore[attr-defined]
            store.BudgetLine.estate_id == estate_id, store.BudgetLine.budget_id == budget.budget_id
        )
    )
    for n, line in enumerate(lines, 1):
        session.add(
            store.BudgetLine(
                estate_id=estate_id,
                budget_id=budget.budget_id,
                line_id=line.line_id.strip() or f"L{n}",
                name=line.name.strip()[:200],
                expense_code=line.expense_code,
                amount_fen=line.amount_fen,
            )
        )
    await session.flush()
    return budget


async def budget_pb(session: AsyncSession, budget: store.Budget) -> ledger_pb2.Budget:
    lines = list(
        (
            await session.execute(
                select(store.BudgetLine)
                .where(
                    store.BudgetLine.estate_id == budget.estate_id,
                    store.BudgetLine.budget_id == budget.budget_id,
                )
                .order_by(store.BudgetLine.line_id)
            )
        ).scalars()
    )
    spent: dict[str, int] = {
        str(line_id): int(total)
        for line_id, total in (
            await session.execute(
                select(store.Disbursement.budget_line_id, func.sum(store.Disbursement.amount_fen))
                .where(
                    store.Disbursement.estate_id == budget.estate_id,
                    store.Disbursement.state == State.DISBURSEMENT_STATE_POSTED,
                    func.extract("year", store.Disbursement.paid_on) == budget.year,
                )
                .group_by(store.Disbursement.budget_line_id)
            )
        ).all()
    }
    out = [
        ledger_pb2.BudgetLine(
            line_id=ln.line_id,
            name=ln.name,
            expense_code=ln.expense_code,
            amount_fen=ln.amount_fen,
            actual_fen=int(spent.get(ln.line_id, 0)),
        )
        for ln in lines
    ]
    return ledger_pb2.Budget(
        estate_id=str(budget.estate_id),
        budget_id=str(budget.budget_id),
        year=budget.year,
        state=budget.state,
        lines=out,
        total_fen=sum(ln.amount_fen for ln in out),
        actual_fen=sum(ln.actual_fen for ln in out),
        decision_subject=f"budget:{budget.budget_id}",
    )


async def budget_line_exists(
    session: AsyncSession, estate_id: uuid.UUID, line_id: str, year: int
) -> bool:
    row = await session.execute(
        select(store.BudgetLine.line_id)
        .join(
            store.Budget,
            (store.Budget.estate_id == store.BudgetLine.estate_id)
            & (store.Budget.budget_id == store.BudgetLine.budget_id),
        )
        .where(
            store.BudgetLine.estate_id == estate_id,
            store.BudgetLine.line_id == line_id,
            store.Budget.year == year,
        )
    )
    return row.first() is not None
