"""Ledger's gRPC servicer: checks the caller, then applies the posting rules in one transaction."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.identity.v1 import identity_pb2, identity_pb2_grpc
from xinyi.ledger.v1 import events_pb2, ledger_pb2, ledger_pb2_grpc
from xinyi_kit import audit, auth, clock, idempotency
from xinyi_kit.db import Database
from xinyi_kit.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from xinyi_kit.outbox import Outbox
from xinyi_kit.permissions import Action, allowed, authorize_estate
from xinyi_kit.telemetry import current_trace_id, inject_context
from xinyi_ledger import (
    bankstatements,
    chain,
    decisions,
    domain,
    fees,
    journal,
    maintenance,
    money,
    posting,
    store,
    takings,
    takingsapi,
)

log = logging.getLogger(__name__)
R = TypeVar("R", bound=Message)
State = events_pb2.DisbursementState
Kind = events_pb2.EntryKind
COMMITTEE_WEEK = 7 * 24 * 3600
BANK_DEBIT = "bank_debit"
# What a reversal may take back, and why the rest cannot be: money out only moves by
# disbursement, and the entries the ledger derives follow from the ones they derive from.
REVERSIBLE: set[int] = {Kind.ENTRY_KIND_INCOME, Kind.ENTRY_KIND_PAYMENT, Kind.ENTRY_KIND_ASSESSMENT}
REVERSIBLE_NOT: dict[int, str] = {
    Kind.ENTRY_KIND_EXPENSE: (
        "a payment out is not reversed: the bank paid it; money coming back is income "
        "(a refund) on the bank's evidence"
    ),
    Kind.ENTRY_KIND_REMUNERATION: (
        "remuneration follows the income it accrues on: reverse that income instead"
    ),
    Kind.ENTRY_KIND_REVERSAL: "a reversal is not reversed: post the entry again instead",
    Kind.ENTRY_KIND_OPENING: "opening balances are not reversed: they are the estate's start",
    Kind.ENTRY_KIND_TRANSFER: "a transfer between the fund's accounts is not reversed",
}


def _stamp(value: object) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value)  # type: ignore[arg-type]
    return out


def entry_pb(
    row: store.Entry,
    lines: list[store.EntryLine],
    items: list[store.EntryItem],
    *,
    named_units: bool,
) -> ledger_pb2.Entry:
    """`named_units`: whether the caller may see which unit a receivable line concerns (a named
    unit's arrears); everyone sees the pseudonym the entry's hash covers."""
    hashed = json.loads(row.canonical).get("lines", [])
    refs = [str(line.get("unit", "")) for line in hashed] if len(hashed) == len(lines) else []
    return ledger_pb2.Entry(
        estate_id=str(row.estate_id),
        entry_id=str(row.entry_id),
        chain_index=row.chain_index,
        kind=row.kind,  # type: ignore[arg-type]
        period=row.period,
        booked_on=row.booked_on.isoformat(),
        description=row.description,
        lines=[
            events_pb2.EntryLine(
                account_code=ln.account_code,
                amount_fen=ln.amount_fen,
                unit_id=str(ln.unit_id or "") if named_units else "",
                unit_ref=refs[n] if refs else "",
            )
            for n, ln in enumerate(lines)
        ],
        income_source=row.income_source,
        lump_sum=row.lump_sum,
        items=[
            ledger_pb2.IncomeItem(
                description=i.description,
                amount_fen=i.amount_fen,
                occurred_on=i.occurred_on.isoformat() if i.occurred_on else "",
            )
            for i in items
        ],
        voucher_sha256=row.voucher_sha256,
        reverses_entry_id=str(row.reverses_entry_id or ""),
        entry_hash=row.entry_hash.hex(),
        chain_hash=row.chain_hash.hex(),
        recorded_at=_stamp(row.recorded_at),
        late_for_period=row.late_for_period or "",
        disbursement_id=str(row.disbursement_id or ""),
        canonical_json=row.canonical,
    )


class LedgerApi(ledger_pb2_grpc.LedgerServiceServicer):
    def __init__(
        self, db: Database, outbox: Outbox, identity: Callable[[], grpc.aio.Channel]
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.poster = posting.Poster(db, outbox)
        # The channel is made on first use, inside the server's event loop.
        self._identity_channel = identity

    @property
    def identity(self) -> identity_pb2_grpc.IdentityServiceStub:
        return identity_pb2_grpc.IdentityServiceStub(self._identity_channel())

    async def _once(
        self,
        session: AsyncSession,
        estate_id: uuid.UUID,
        method: str,
        request: Message,
        response_type: type[R],
        compute: Callable[[], Awaitable[R]],
    ) -> R:
        principal = auth.require()
        key = getattr(request, "idempotency_key", "")
        return await idempotency.once(
            session,
            estate_id,
            f"{principal.user_id}:{method}",
            key,
            request,
            response_type,
            compute,
        )

    async def _entry(self, session: AsyncSession, row: store.Entry) -> ledger_pb2.Entry:
        lines = await store.lines_of(session, row.estate_id, [row.entry_id])
        items = await store.items_of(session, row.estate_id, [row.entry_id])
        principal = auth.require()
        named = allowed(principal, Action.ARREARS_READ_UNITS, row.estate_id)
        return entry_pb(
            row, lines.get(row.entry_id, []), items.get(row.entry_id, []), named_units=named
        )

    async def ListAccounts(
        self, request: ledger_pb2.ListAccountsRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.ListAccountsResponse:
        _, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            rows = await store.accounts(session, estate_id)
        return ledger_pb2.ListAccountsResponse(
            accounts=[
                ledger_pb2.Account(
                    estate_id=str(r.estate_id),
                    code=r.code,
                    name=r.name,
                    type=ledger_pb2.AccountType.Name(r.type),
                )
                for r in rows
            ]
        )

    async def AddAccount(
        self, request: ledger_pb2.AddAccountRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Account:
        _, estate_id = authorize_estate(Action.ACCOUNTS_EXTEND, request.estate_id)
        kind = domain.account_type_of(request.code)
        name = request.name.strip()
        if not name or len(name) > 100:
            raise InvalidArgument("name the account (at most 100 characters)")
        async with self.db.estate_tx(estate_id) as session:
            if not await store.accounts(session, estate_id):
                raise FailedPrecondition("the estate's books are not open yet; try again shortly")
            if await session.get(store.Account, (estate_id, request.code)) is not None:
                raise AlreadyExists(f"the estate has an account {request.code} already")
            session.add(
                store.Account(estate_id=estate_id, code=request.code, name=name, type=int(kind))
            )
            await audit.record(session, estate_id, "account.add", request.code, {"name": name})
            await self.outbox.emit(
                session,
                estate_id,
                "account_added",
                events_pb2.ChartAccount(estate_id=str(estate_id), code=request.code, name=name),
            )
        return ledger_pb2.Account(
            estate_id=str(estate_id),
            code=request.code,
            name=name,
            type=ledger_pb2.AccountType.Name(int(kind)),
        )

    # -- contract terms ------------------------------------------------------------------------
    async def SetContractTerms(
        self, request: ledger_pb2.SetContractTermsRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.ContractTerms:
        terms = request.terms
        _, estate_id = authorize_estate(Action.CONTRACT_TERMS_SET, terms.estate_id)
        if bool(terms.ratio) == bool(terms.fixed_monthly_fen):
            raise InvalidArgument("give either a remuneration ratio or a fixed monthly sum")
        ratio = domain.parse_ratio(terms.ratio) if terms.ratio else None
        if terms.fixed_monthly_fen:
            domain.check_amount(terms.fixed_monthly_fen, "the fixed monthly sum")
        sources = sorted(set(terms.sources))
        unknown = [s for s in sources if s not in domain.INCOME_ACCOUNT]
        if unknown or (ratio is not None and not sources):
            raise InvalidArgument(
                "name the income sources the ratio applies to: " + ", ".join(domain.INCOME_ACCOUNT)
            )
        starts = journal.parse_day(terms.effective_from, "effective_from")
        async with self.db.estate_tx(estate_id) as session:
            await session.merge(
                store.ContractTerms(
                    estate_id=estate_id,
                    effective_from=starts,
                    ratio_num=ratio.numerator if ratio else None,
                    ratio_den=ratio.denominator if ratio else None,
                    fixed_monthly_fen=terms.fixed_monthly_fen or None,
                    sources=sources,
                )
            )
            await audit.record(
                session,
                estate_id,
                "contract_terms.set",
                "",
                {
                    "ratio": terms.ratio,
                    "fixed_monthly_fen": terms.fixed_monthly_fen,
                    "sources": sources,
                    "effective_from": starts.isoformat(),
                },
            )
        return ledger_pb2.ContractTerms(
            estate_id=str(estate_id),
            ratio=f"{ratio.numerator}/{ratio.denominator}" if ratio else "",
            fixed_monthly_fen=terms.fixed_monthly_fen,
            sources=sources,
            effective_from=starts.isoformat(),
        )

    async def GetContractTerms(
        self, request: ledger_pb2.GetContractTermsRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.ContractTerms:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        today = journal.today()
        async with self.db.estate_tx(estate_id) as session:
            terms = await journal.terms_on(session, estate_id, today)
            suspended = (
                await session.execute(
                    select(func.min(store.SuspensionRow.from_day)).where(
                        store.SuspensionRow.estate_id == estate_id,
                        store.SuspensionRow.until_day.is_(None),
                    )
                )
            ).scalar_one()
        if terms is None:
            raise NotFound("the estate has no contract terms yet")
        ratio = f"{terms.ratio_num}/{terms.ratio_den}" if terms.ratio_num else ""
        return ledger_pb2.ContractTerms(
            estate_id=str(estate_id),
            ratio=ratio,
            fixed_monthly_fen=terms.fixed_monthly_fen or 0,
            sources=terms.sources,
            effective_from=terms.effective_from.isoformat(),
            remuneration_suspended_from=suspended.isoformat() if suspended else "",
        )

    # -- income and corrections ----------------------------------------------------------------
    async def PostIncome(
        self, request: ledger_pb2.PostIncomeRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Entry:
        principal, estate_id = authorize_estate(Action.LEDGER_POST_INCOME, request.estate_id)
        return await self.poster.post(posting.income(request, principal.user_id, estate_id))

    async def BatchPostIncome(
        self, request: ledger_pb2.BatchPostIncomeRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.BatchPostIncomeResponse:
        if not request.postings:
            raise InvalidArgument("a batch holds at least one posting")
        if len(request.postings) > posting.MAX_BATCH:
            raise InvalidArgument(
                f"a batch holds at most {posting.MAX_BATCH} postings; send the rest in another"
            )
        incomes = []
        # What every posting of the batch shares, found once: the trace context, the day an
        # undated posting is booked on, and the caller's right to post in each estate.
        trace = json.dumps(inject_context())
        today = journal.today()
        authorized: dict[str, tuple[auth.Principal, uuid.UUID]] = {}
        for n, item in enumerate(request.postings, 1):
            try:
                if item.estate_id not in authorized:
                    authorized[item.estate_id] = authorize_estate(
                        Action.LEDGER_POST_INCOME, item.estate_id
                    )
                principal, estate_id = authorized[item.estate_id]
                incomes.append(posting.income(item, principal.user_id, estate_id, trace, today))
            except DomainError as exc:
                # Nothing is posted: the whole batch is checked before any of it.
                raise type(exc)(f"posting {n}: {exc.message}") from None
        results = []
        for answer in await self.poster.post_many(incomes):
            if isinstance(answer, DomainError):
                error = ledger_pb2.PostingError(code=answer.code.name, message=answer.message)
            elif isinstance(answer, Exception):
                # As the kit answers an unexpected error: logged, and only a trace id told.
                log.error("unexpected error in a batched posting", exc_info=answer)
                error = ledger_pb2.PostingError(
                    code=grpc.StatusCode.INTERNAL.name,
                    message=f"internal error; report trace id {current_trace_id() or 'n/a'} "
                    "to the operator",
                )
            else:
                results.append(ledger_pb2.PostingResult(entry=answer))
                continue
            results.append(ledger_pb2.PostingResult(error=error))
        return ledger_pb2.BatchPostIncomeResponse(results=results)

    async def ReverseEntry(
        self, request: ledger_pb2.ReverseEntryRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Entry:
        principal, estate_id = authorize_estate(Action.LEDGER_REVERSE, request.estate_id)
        entry_id = _uuid(request.entry_id, "entry_id")
        reason = request.reason.strip()
        if not reason:
            raise InvalidArgument("say why the entry is reversed: owners read it")

        async def run() -> ledger_pb2.Entry:
            original = await session.get(store.Entry, (estate_id, entry_id))
            if original is None:
                raise NotFound("no such entry")
            if original.kind not in REVERSIBLE:
                raise FailedPrecondition(
                    REVERSIBLE_NOT.get(original.kind, "this entry is not reversed")
                )
            done = await session.execute(
                select(store.Entry.entry_id).where(
                    store.Entry.estate_id == estate_id, store.Entry.reverses_entry_id == entry_id
                )
            )
            if done.first() is not None:
                raise FailedPrecondition("this entry was reversed already")
            lines = (await store.lines_of(session, estate_id, [entry_id]))[entry_id]
            correction = None
            if original.kind == Kind.ENTRY_KIND_PAYMENT:
                correction = await fees.payment_correction(session, estate_id, lines)
            elif original.kind == Kind.ENTRY_KIND_ASSESSMENT:
                correction = await fees.assessment_correction(session, estate_id, entry_id)
            row = await journal.post(
                session,
                self.outbox,
                estate_id,
                journal.Draft(
                    kind=Kind.ENTRY_KIND_REVERSAL,
                    booked_on=journal.today(),
                    description=(
                        f"冲销 #{original.chain_index}"
                        + (f"（{correction.note}）" if correction else "")
                        + f": {reason}"
                    )[:500],
                    lines=(
                        correction.lines
                        if correction
                        else [
                            (ln.account_code, -ln.amount_fen, str(ln.unit_id or "")) for ln in lines
                        ]
                    ),
                    income_source=original.income_source,
                    reverses=str(entry_id),
                ),
                principal.user_id,
            )
            if correction:
                await fees.apply_correction(
                    session, self.outbox, estate_id, correction, row, original
                )
            await journal.accrue_remuneration(
                session, self.outbox, estate_id, row.period, row.booked_on, principal.user_id
            )
            if (
                original.kind == Kind.ENTRY_KIND_INCOME
                and original.income_source in takings.SOURCES
            ):
                # A reversal counts against the income it reverses, in that income's month.
                await takingsapi.settle_flags(
                    session, self.outbox, estate_id, [domain.period_of(original.booked_on)]
                )
            await audit.record(
                session, estate_id, "entry.reverse", str(entry_id), {"reason": reason}
            )
            return await self._entry(session, row)

        async with self.db.estate_tx(estate_id) as session:
            return await self._once(
                session, estate_id, "ReverseEntry", request, ledger_pb2.Entry, run
            )

    async def ListEntries(
        self, request: ledger_pb2.ListEntriesRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.ListEntriesResponse:
        principal, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        size = request.page_size or 50
        if not 1 <= size <= 500:
            raise InvalidArgument("page_size must be between 1 and 500")
        query = (
            select(store.Entry)
            .where(store.Entry.estate_id == estate_id)
            .order_by(store.Entry.chain_index.desc())
            .limit(size + 1)
        )
        if request.period:
            query = query.where(store.Entry.period == domain.check_period(request.period))
        if request.kind:
            query = query.where(store.Entry.kind == int(request.kind))
        if request.account_code:
            query = query.where(
                store.Entry.entry_id.in_(
                    select(store.EntryLine.entry_id).where(
                        store.EntryLine.estate_id == estate_id,
                        store.EntryLine.account_code == request.account_code,
                    )
                )
            )
        if request.page_token:
            if not request.page_token.isdigit():
                raise InvalidArgument("page_token is not one this service issued")
            query = query.where(store.Entry.chain_index < int(request.page_token))
        async with self.db.estate_tx(estate_id) as session:
            rows = list((await session.execute(query)).scalars())
            more = len(rows) > size
            rows = rows[:size]
            ids = [r.entry_id for r in rows]
            lines = await store.lines_of(session, estate_id, ids)
            items = await store.items_of(session, estate_id, ids)
        return ledger_pb2.ListEntriesResponse(
            entries=[
                entry_pb(
                    r,
                    lines.get(r.entry_id, []),
                    items.get(r.entry_id, []),
                    named_units=allowed(principal, Action.ARREARS_READ_UNITS, estate_id),
                )
                for r in rows
            ],
            next_page_token=str(rows[-1].chain_index) if more and rows else "",
        )

    async def GetEntry(
        self, request: ledger_pb2.GetEntryRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Entry:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        entry_id = _uuid(request.entry_id, "entry_id")
        async with self.db.estate_tx(estate_id) as session:
            row = await session.get(store.Entry, (estate_id, entry_id))
            if row is None:
                raise NotFound("no such entry")
            return await self._entry(session, row)

    async def GetEntryProof(
        self, request: ledger_pb2.GetEntryProofRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.EntryProof:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        entry_id = _uuid(request.entry_id, "entry_id")
        async with self.db.estate_tx(estate_id) as session:
            proof = await journal.proof_of(session, estate_id, entry_id)
            entry = await self._entry(session, proof.entry)
            head = await self._head(session, proof.period)
        return ledger_pb2.EntryProof(
            entry=entry,
            leaf_index=proof.leaf_index,
            tree_size=proof.tree_size,
            audit_path=[h.hex() for h in proof.path],
            head=head,
        )

    async def GetFund(
        self, request: ledger_pb2.GetFundRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Fund:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        period = domain.period_of(journal.today())
        async with self.db.estate_tx(estate_id) as session:
            accounts = await store.accounts(session, estate_id)
            balances = await store.balances(session, estate_id)
            income = await journal._period_sum(
                session,
                estate_id,
                period,
                [a.code for a in accounts if a.type == domain.AccountType.INCOME],
            )
            expense = await journal._period_sum(
                session,
                estate_id,
                period,
                [a.code for a in accounts if a.type == domain.AccountType.EXPENSE],
            )
            head = (
                (
                    await session.execute(
                        select(store.ChainHead).where(store.ChainHead.estate_id == estate_id)
                    )
                )
                .scalars()
                .first()
            )
            through, reconciled, open_lines = await bankstatements.reconciliation(
                session, estate_id, "fund"
            )
        return ledger_pb2.Fund(
            estate_id=str(estate_id),
            balances=[
                ledger_pb2.Balance(code=a.code, name=a.name, balance_fen=balances.get(a.code, 0))
                for a in accounts
            ],
            fund_bank_fen=balances.get(domain.FUND_BANK, 0),
            maintenance_bank_fen=balances.get(domain.MAINTENANCE_BANK, 0),
            period=period,
            period_income_fen=-income,
            period_expense_fen=expense,
            entry_count=head.last_index if head else 0,
            statement_through=through.isoformat() if through else "",
            reconciled_through=reconciled.isoformat() if reconciled else "",
            open_statement_lines=open_lines,
        )

    # -- dual control ----------------------------------------------------------------------------
    async def _thresholds(
        self, session: AsyncSession, estate_id: uuid.UUID
    ) -> list[tuple[int | None, int]]:
        row = await session.get(store.ApprovalThresholds, estate_id)
        if row is None:
            return list(domain.DEFAULT_THRESHOLDS)
        return [(b, int(c or 0)) for b, c in row.thresholds]

    def _thresholds_pb(
        self, estate_id: uuid.UUID, ladder: list[tuple[int | None, int]]
    ) -> ledger_pb2.ApprovalThresholds:
        return ledger_pb2.ApprovalThresholds(
            estate_id=str(estate_id),
            thresholds=[ledger_pb2.Threshold(up_to_fen=b or 0, approvals=c) for b, c in ladder],
            described=money.describe_thresholds(ladder, "zh")
            + money.describe_thresholds(ladder, "en"),
        )

    async def SetApprovalThresholds(
        self, request: ledger_pb2.SetApprovalThresholdsRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.ApprovalThresholds:
        _, estate_id = authorize_estate(Action.CONTRACT_TERMS_SET, request.estate_id)
        # The last tier has no bound (0 on the wire); every other bound is above zero.
        ladder: list[tuple[int | None, int]] = [
            (t.up_to_fen if n < len(request.thresholds) - 1 else (t.up_to_fen or None), t.approvals)
            for n, t in enumerate(request.thresholds)
        ]
        try:
            money.check_thresholds(ladder)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        async with self.db.estate_tx(estate_id) as session:
            await session.merge(
                store.ApprovalThresholds(
                    estate_id=estate_id, thresholds=[[b, c] for b, c in ladder]
                )
            )
            await audit.record(
                session,
                estate_id,
                "approval_thresholds.set",
                "",
                {"thresholds": [[b, c] for b, c in ladder]},
            )
        return self._thresholds_pb(estate_id, ladder)

    async def GetApprovalThresholds(
        self, request: ledger_pb2.GetApprovalThresholdsRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.ApprovalThresholds:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            return self._thresholds_pb(estate_id, await self._thresholds(session, estate_id))

    async def _disbursement(
        self, session: AsyncSession, row: store.Disbursement
    ) -> ledger_pb2.Disbursement:
        approvals = (
            await session.execute(
                select(store.DisbursementApproval)
                .where(
                    store.DisbursementApproval.estate_id == row.estate_id,
                    store.DisbursementApproval.disbursement_id == row.disbursement_id,
                )
                .order_by(store.DisbursementApproval.approved_at)
            )
        ).scalars()
        return ledger_pb2.Disbursement(
            estate_id=str(row.estate_id),
            disbursement_id=str(row.disbursement_id),
            state=row.state,  # type: ignore[arg-type]
            amount_fen=row.amount_fen,
            payee=row.payee,
            purpose=row.purpose,
            expense_code=row.expense_code,
            budget_line_id=row.budget_line_id,
            voucher_sha256=row.voucher_sha256,
            approvals_required=row.approvals_required,
            approvals=[
                ledger_pb2.Approval(
                    user_id=str(a.user_id), username=a.username, approved_at=_stamp(a.approved_at)
                )
                for a in approvals
            ],
            requested_by=str(row.requested_by),
            requested_at=_stamp(row.requested_at),
            rejected_reason=row.rejected_reason,
            bank_voucher_sha256=row.bank_evidence,
            paid_on=row.paid_on.isoformat() if row.paid_on else "",
            entry_id=str(row.entry_id or ""),
            maintenance_use_id=row.maintenance_use_id,
            origin=row.origin,
            suspense_entry_id=str(row.suspense_entry_id or ""),
        )

    async def _emit_disbursement(
        self, session: AsyncSession, row: store.Disbursement, name: str
    ) -> None:
        count = len(
            (
                await session.execute(
                    select(store.DisbursementApproval.user_id).where(
                        store.DisbursementApproval.estate_id == row.estate_id,
                        store.DisbursementApproval.disbursement_id == row.disbursement_id,
                    )
                )
            ).all()
        )
        principal = auth.current()
        await self.outbox.emit(
            session,
            row.estate_id,
            name,
            events_pb2.DisbursementChanged(
                estate_id=str(row.estate_id),
                disbursement_id=str(row.disbursement_id),
                state=row.state,  # type: ignore[arg-type]
                amount_fen=row.amount_fen,
                payee=row.payee,
                purpose=row.purpose,
                budget_line_id=row.budget_line_id,
                approvals=count,
                approvals_required=row.approvals_required,
                actor_user_id=principal.user_id if principal else "",
                origin=row.origin,
            ),
        )

    async def RequestDisbursement(
        self, request: ledger_pb2.RequestDisbursementRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Disbursement:
        principal, estate_id = authorize_estate(Action.DISBURSEMENT_REQUEST, request.estate_id)
        amount = domain.check_amount(request.amount_fen)
        payee = request.payee.strip()
        purpose = request.purpose.strip()
        if not payee or len(payee) > 200:
            raise InvalidArgument("name the payee (at most 200 characters)")
        if not purpose:
            raise InvalidArgument("say what the payment is for: owners read it")
        use_id = request.maintenance_use_id.strip()

        async def run() -> ledger_pb2.Disbursement:
            kind = await store.account_type(session, estate_id, request.expense_code)
            if not domain.disbursable(request.expense_code, kind):
                raise InvalidArgument(
                    "expense_code is one of the estate's expense accounts (5001-5008, 5090 and any "
                    "added) or 2101 (paying the company's accrued remuneration)"
                )
            if use_id:
                await decisions.require_maintenance_use(session, estate_id, use_id)
            if request.budget_line_id and not await decisions.budget_line_exists(
                session, estate_id, request.budget_line_id, journal.today().year
            ):
                raise InvalidArgument(
                    f"no budget line {request.budget_line_id[:40]!r} in this year's budget"
                )
            ladder = await self._thresholds(session, estate_id)
            row = store.Disbursement(
                estate_id=estate_id,
                disbursement_id=uuid.uuid4(),
                state=State.DISBURSEMENT_STATE_REQUESTED,
                amount_fen=amount,
                payee=payee,
                purpose=purpose[:2000],
                expense_code=request.expense_code,
                budget_line_id=request.budget_line_id[:64],
                voucher_sha256=list(request.voucher_sha256),
                approvals_required=money.approvals_required(amount, ladder),
                requested_by=uuid.UUID(principal.user_id),
                requested_at=clock.now(),
                maintenance_use_id=use_id[:64],
            )
            session.add(row)
            await session.flush()
            await self._emit_disbursement(session, row, "disbursement_requested")
            await audit.record(
                session,
                estate_id,
                "disbursement.request",
                str(row.disbursement_id),
                {"amount_fen": amount, "payee": payee},
            )
            return await self._disbursement(session, row)

        async with self.db.estate_tx(estate_id) as session:
            return await self._once(
                session, estate_id, "RequestDisbursement", request, ledger_pb2.Disbursement, run
            )

    async def RecordBankDebit(
        self, request: ledger_pb2.RecordBankDebitRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Disbursement:
        principal, estate_id = authorize_estate(Action.BANK_DEBIT_RECORD, request.estate_id)
        amount = domain.check_amount(request.amount_fen)
        day = journal.parse_day(request.debited_on, "debited_on")
        if day > journal.today():
            raise InvalidArgument("debited_on is in the future; record a debit the statement shows")
        payee = request.payee.strip()
        purpose = request.purpose.strip()
        evidence = request.bank_evidence.strip()
        if not payee or len(payee) > 200:
            raise InvalidArgument("name who took the money, as the statement shows (at most 200)")
        if not purpose:
            raise InvalidArgument("copy the statement's words for the debit: owners read them")
        if not evidence:
            raise InvalidArgument("give the statement's reference for the debit")
        code = request.expense_code or domain.BANK_CHARGES

        async def run() -> ledger_pb2.Disbursement:
            kind = await store.account_type(session, estate_id, code)
            if kind != domain.AccountType.EXPENSE:
                raise InvalidArgument("expense_code is one of the estate's expense accounts")
            disbursement_id = uuid.uuid4()
            entry = await journal.post(
                session,
                self.outbox,
                estate_id,
                journal.Draft(
                    kind=Kind.ENTRY_KIND_BANK_DEBIT,
                    booked_on=day,
                    description=f"银行扣款待追认：{purpose}（{payee}）"[:500],
                    lines=[
                        (domain.UNRATIFIED_DEBITS, amount, ""),
                        (domain.FUND_BANK, -amount, ""),
                    ],
                    vouchers=[evidence] if _is_sha(evidence) else [],
                    disbursement_id=str(disbursement_id),
                ),
                principal.user_id,
            )
            row = store.Disbursement(
                estate_id=estate_id,
                disbursement_id=disbursement_id,
                state=State.DISBURSEMENT_STATE_REQUESTED,
                amount_fen=amount,
                payee=payee,
                purpose=purpose[:2000],
                expense_code=code,
                budget_line_id="",
                voucher_sha256=[],
                approvals_required=money.approvals_required(
                    amount, await self._thresholds(session, estate_id)
                ),
                requested_by=uuid.UUID(principal.user_id),
                requested_at=clock.now(),
                bank_evidence=evidence[:500],
                paid_on=day,
                origin=BANK_DEBIT,
                suspense_entry_id=entry.entry_id,
            )
            session.add(row)
            await session.flush()
            await self._emit_disbursement(session, row, "disbursement_requested")
            await audit.record(
                session,
                estate_id,
                "bank_debit.record",
                str(row.disbursement_id),
                {"amount_fen": amount, "payee": payee, "evidence": evidence[:100]},
            )
            return await self._disbursement(session, row)

        async with self.db.estate_tx(estate_id) as session:
            return await self._once(
                session, estate_id, "RecordBankDebit", request, ledger_pb2.Disbursement, run
            )

    async def _ratify(self, session: AsyncSession, row: store.Disbursement, actor: str) -> None:
        """The approving body's ratification of a bank debit: the expense posts, out of the
        account that held it awaiting ratification."""
        entry = await journal.post(
            session,
            self.outbox,
            row.estate_id,
            journal.Draft(
                kind=Kind.ENTRY_KIND_EXPENSE,
                booked_on=journal.today(),
                description=f"追认银行扣款：{row.purpose}（{row.payee}）"[:500],
                lines=[
                    (row.expense_code, row.amount_fen, ""),
                    (domain.UNRATIFIED_DEBITS, -row.amount_fen, ""),
                ],
                vouchers=[row.bank_evidence] if _is_sha(row.bank_evidence) else [],
                disbursement_id=str(row.disbursement_id),
            ),
            actor,
        )
        row.state, row.entry_id = State.DISBURSEMENT_STATE_POSTED, entry.entry_id
        await self._emit_disbursement(session, row, "disbursement_posted")

    async def _locked(
        self, session: AsyncSession, estate_id: uuid.UUID, raw_id: str
    ) -> store.Disbursement:
        row = await session.get(
            store.Disbursement, (estate_id, _uuid(raw_id, "disbursement_id")), with_for_update=True
        )
        if row is None:
            raise NotFound("no such disbursement")
        return row

    async def ApproveDisbursement(
        self, request: ledger_pb2.ApproveDisbursementRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Disbursement:
        principal, estate_id = authorize_estate(Action.DISBURSEMENT_APPROVE, request.estate_id)
        if not request.totp:
            raise InvalidArgument("confirm the approval with the code from your authenticator app")
        # The second factor first: identity spends the code, so a replayed request fails here.
        await self.identity.VerifySecondFactor(
            identity_pb2.VerifySecondFactorRequest(code=request.totp),
            metadata=auth.forwarded_metadata(),
            timeout=5,
        )
        async with self.db.estate_tx(estate_id) as session:
            row = await self._locked(session, estate_id, request.disbursement_id)
            if row.state != State.DISBURSEMENT_STATE_REQUESTED:
                state = State.Name(row.state).removeprefix("DISBURSEMENT_STATE_").lower()
                raise FailedPrecondition(
                    f"the disbursement is {state}; only a requested one can be approved"
                )
            if row.requested_by == uuid.UUID(principal.user_id):
                raise PermissionDenied("the person who requested a payment cannot approve it")
            added = await session.get(
                store.DisbursementApproval,
                (estate_id, row.disbursement_id, uuid.UUID(principal.user_id)),
            )
            if added is not None:
                raise FailedPrecondition("you approved this disbursement already")
            session.add(
                store.DisbursementApproval(
                    estate_id=estate_id,
                    disbursement_id=row.disbursement_id,
                    user_id=uuid.UUID(principal.user_id),
                    username=principal.username,
                    approved_at=clock.now(),
                )
            )
            await session.flush()
            count = len(
                (
                    await session.execute(
                        select(store.DisbursementApproval.user_id).where(
                            store.DisbursementApproval.estate_id == estate_id,
                            store.DisbursementApproval.disbursement_id == row.disbursement_id,
                        )
                    )
                ).all()
            )
            if count >= row.approvals_required:
                row.state = State.DISBURSEMENT_STATE_APPROVED
            await self._emit_disbursement(session, row, "disbursement_approved")
            if row.state == State.DISBURSEMENT_STATE_APPROVED and row.origin == BANK_DEBIT:
                await self._ratify(session, row, principal.user_id)
            await audit.record(
                session,
                estate_id,
                "disbursement.approve",
                str(row.disbursement_id),
                {"approvals": count, "required": row.approvals_required},
            )
            return await self._disbursement(session, row)

    async def RejectDisbursement(
        self, request: ledger_pb2.RejectDisbursementRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Disbursement:
        _, estate_id = authorize_estate(Action.DISBURSEMENT_APPROVE, request.estate_id)
        reason = request.reason.strip()
        if not reason:
            raise InvalidArgument("say why the payment is rejected: the company and owners read it")
        async with self.db.estate_tx(estate_id) as session:
            row = await self._locked(session, estate_id, request.disbursement_id)
            if row.state not in (
                State.DISBURSEMENT_STATE_REQUESTED,
                State.DISBURSEMENT_STATE_APPROVED,
            ):
                raise FailedPrecondition(
                    "only a requested or approved, unpaid disbursement can be rejected"
                )
            row.state, row.rejected_reason = State.DISBURSEMENT_STATE_REJECTED, reason[:2000]
            await self._emit_disbursement(session, row, "disbursement_rejected")
            await audit.record(
                session,
                estate_id,
                "disbursement.reject",
                str(row.disbursement_id),
                {"reason": reason},
            )
            return await self._disbursement(session, row)

    async def CancelDisbursement(
        self, request: ledger_pb2.CancelDisbursementRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Disbursement:
        _, estate_id = authorize_estate(Action.DISBURSEMENT_CANCEL, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await self._locked(session, estate_id, request.disbursement_id)
            if row.origin == BANK_DEBIT:
                raise FailedPrecondition(
                    "the bank took this money already: the approving body ratifies or "
                    "disputes it; it cannot be cancelled"
                )
            if row.state not in (
                State.DISBURSEMENT_STATE_REQUESTED,
                State.DISBURSEMENT_STATE_APPROVED,
            ):
                raise FailedPrecondition("a disbursement can be cancelled only until it is paid")
            row.state = State.DISBURSEMENT_STATE_CANCELLED
            await self._emit_disbursement(session, row, "disbursement_cancelled")
            await audit.record(session, estate_id, "disbursement.cancel", str(row.disbursement_id))
            return await self._disbursement(session, row)

    async def RecordDisbursementPaid(
        self, request: ledger_pb2.RecordDisbursementPaidRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Disbursement:
        principal, estate_id = authorize_estate(Action.DISBURSEMENT_RECORD_PAID, request.estate_id)
        evidence = request.bank_evidence.strip()
        if not evidence:
            raise InvalidArgument(
                "attach the bank's evidence: the payment voucher or statement reference"
            )
        day = journal.parse_day(request.paid_on, "paid_on")

        async def run() -> ledger_pb2.Disbursement:
            row = await self._locked(session, estate_id, request.disbursement_id)
            if row.origin == BANK_DEBIT:
                raise FailedPrecondition(
                    "the bank paid this debit itself; it posts when the approving body ratifies it"
                )
            if row.state != State.DISBURSEMENT_STATE_APPROVED:
                raise FailedPrecondition(
                    "only an approved disbursement is paid; it needs its "
                    f"{row.approvals_required} approval(s) first"
                )
            bank = domain.FUND_BANK
            if row.maintenance_use_id:
                # Checked again at payment: a decision overturned in between stops the money.
                await decisions.require_maintenance_use(session, estate_id, row.maintenance_use_id)
                bank = domain.MAINTENANCE_BANK
            entry = await journal.post(
                session,
                self.outbox,
                estate_id,
                journal.Draft(
                    kind=Kind.ENTRY_KIND_EXPENSE,
                    booked_on=day,
                    description=f"{row.purpose}（付 {row.payee}）"[:500],
                    lines=[
                        (row.expense_code, row.amount_fen, ""),
                        (bank, -row.amount_fen, ""),
                    ],
                    vouchers=[*row.voucher_sha256, *([evidence] if _is_sha(evidence) else [])],
                    disbursement_id=str(row.disbursement_id),
                ),
                principal.user_id,
            )
            row.state, row.paid_on, row.bank_evidence, row.entry_id = (
                State.DISBURSEMENT_STATE_POSTED,
                day,
                evidence[:500],
                entry.entry_id,
            )
            await self._emit_disbursement(session, row, "disbursement_posted")
            await audit.record(
                session,
                estate_id,
                "disbursement.paid",
                str(row.disbursement_id),
                {"entry": str(entry.entry_id), "evidence": evidence[:100]},
            )
            return await self._disbursement(session, row)

        async with self.db.estate_tx(estate_id) as session:
            return await self._once(
                session, estate_id, "RecordDisbursementPaid", request, ledger_pb2.Disbursement, run
            )

    async def ListDisbursements(
        self, request: ledger_pb2.ListDisbursementsRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.ListDisbursementsResponse:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        query = (
            select(store.Disbursement)
            .where(store.Disbursement.estate_id == estate_id)
            .order_by(store.Disbursement.requested_at.desc())
            .limit(500)
        )
        if request.state:
            query = query.where(store.Disbursement.state == int(request.state))
        async with self.db.estate_tx(estate_id) as session:
            rows = list((await session.execute(query)).scalars())
            return ledger_pb2.ListDisbursementsResponse(
                disbursements=[await self._disbursement(session, r) for r in rows]
            )

    # -- periods ---------------------------------------------------------------------------------
    async def _head(self, session: AsyncSession, period: store.Period) -> ledger_pb2.PeriodHead:
        signatures = list(
            (
                await session.execute(
                    select(store.HeadSignature).where(
                        store.HeadSignature.estate_id == period.estate_id,
                        store.HeadSignature.period == period.period,
                    )
                )
            ).scalars()
        )
        roles = {s.role for s in signatures}
        state = (
            "signed"
            if roles >= {"company", "committee"}
            else "awaiting_committee"
            if "company" in roles
            else "awaiting_company"
        )
        overdue = (
            state != "signed" and (clock.now() - period.closed_at).total_seconds() > COMMITTEE_WEEK
        )
        return ledger_pb2.PeriodHead(
            estate_id=str(period.estate_id),
            period=period.period,
            payload_json=period.payload,
            merkle_root=period.merkle_root.hex(),
            chain_head=period.chain_head.hex(),
            entry_count=period.entry_count,
            state=state,
            closed_at=_stamp(period.closed_at),
            overdue=overdue,
            signatures=[
                ledger_pb2.HeadSignature(
                    role=s.role,
                    user_id=str(s.user_id),
                    key_id=s.key_id,
                    signature=base64.urlsafe_b64encode(s.signature).rstrip(b"=").decode(),
                    signed_at=_stamp(s.signed_at),
                    public_jwk=json.dumps(s.public_jwk, sort_keys=True, separators=(",", ":")),
                )
                for s in sorted(signatures, key=lambda s: s.signed_at)
            ],
        )

    async def ClosePeriod(
        self, request: ledger_pb2.ClosePeriodRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.PeriodHead:
        principal, estate_id = authorize_estate(Action.PERIOD_CLOSE, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            # The month's takings flags first, so the closed month's report has them.
            await takingsapi.settle_flags(
                session, self.outbox, estate_id, [domain.check_period(request.period)]
            )
            row = await journal.close_period(
                session, self.outbox, estate_id, request.period, principal.user_id
            )
            await audit.record(session, estate_id, "period.close", request.period)
            return await self._head(session, row)

    async def GetPeriodHead(
        self, request: ledger_pb2.GetPeriodHeadRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.PeriodHead:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            row = await session.get(store.Period, (estate_id, domain.check_period(request.period)))
            if row is None:
                raise NotFound(f"{request.period} is not closed")
            return await self._head(session, row)

    async def SignPeriodHead(
        self, request: ledger_pb2.SignPeriodHeadRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.PeriodHead:
        principal, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        if allowed(principal, Action.HEAD_SIGN_COMPANY, estate_id):
            role = "company"
        elif allowed(principal, Action.HEAD_SIGN_COMMITTEE, estate_id):
            role = "committee"
        else:
            raise PermissionDenied(
                "period heads are signed by the company's manager and "
                "co-signed by the approving body"
            )
        try:
            signature = base64.urlsafe_b64decode(
                request.signature + "=" * (-len(request.signature) % 4)
            )
        except (binascii.Error, ValueError):
            raise InvalidArgument("signature must be base64url") from None
        keys = await self.identity.ListDeviceKeys(
            identity_pb2.ListDeviceKeysRequest(user_id=principal.user_id),
            metadata=auth.forwarded_metadata(),
            timeout=5,
        )
        key = next(
            (k for k in keys.keys if k.key_id == request.key_id and not k.HasField("revoked_at")),
            None,
        )
        if key is None:
            raise FailedPrecondition("no such device key of yours; register the key first")
        jwk = json.loads(key.public_jwk)
        async with self.db.estate_tx(estate_id) as session:
            row = await session.get(store.Period, (estate_id, domain.check_period(request.period)))
            if row is None:
                raise NotFound(f"{request.period} is not closed")
            if not chain.verify_signature(jwk, row.payload.encode(), signature):
                raise InvalidArgument("the signature does not verify with that key over this head")
            existing = await session.get(store.HeadSignature, (estate_id, row.period, role))
            if existing is not None:
                raise FailedPrecondition(f"the head is signed by the {role} already")
            if (
                role == "committee"
                and await session.get(store.HeadSignature, (estate_id, row.period, "company"))
                is None
            ):
                raise FailedPrecondition(
                    "the company signs the head first; then the committee co-signs"
                )
            session.add(
                store.HeadSignature(
                    estate_id=estate_id,
                    period=row.period,
                    role=role,
                    user_id=uuid.UUID(principal.user_id),
                    key_id=key.key_id,
                    public_jwk=jwk,
                    signature=signature,
                    signed_at=clock.now(),
                )
            )
            await session.flush()
            head = await self._head(session, row)
            await self.outbox.emit(
                session,
                estate_id,
                "head_signed",
                events_pb2.HeadSigned(
                    estate_id=str(estate_id),
                    period=row.period,
                    signer_user_id=principal.user_id,
                    signer_role=role,
                    key_id=key.key_id,
                    fully_signed=head.state == "signed",
                ),
            )
            await audit.record(session, estate_id, "period.sign", row.period, {"role": role})
            return head

    async def VerifyLedger(
        self, request: ledger_pb2.VerifyLedgerRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.VerifyLedgerResponse:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            verdict = await journal.verify(session, estate_id)
        return ledger_pb2.VerifyLedgerResponse(
            ok=verdict.ok,
            entries_checked=verdict.entries,
            heads_checked=verdict.heads,
            first_problem=verdict.problem,
            first_broken_index=verdict.broken_index,
        )

    # -- opening balances and budgets ------------------------------------------------------------
    async def PostOpeningBalances(
        self, request: ledger_pb2.PostOpeningBalancesRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Entry:
        principal, estate_id = authorize_estate(Action.OPENING_POST, request.estate_id)
        day = journal.parse_day(request.as_of, "as_of")
        lines = [
            (b.account_code, b.amount_fen, b.unit_id) for b in request.balances if b.amount_fen
        ]
        if not lines:
            raise InvalidArgument("give at least one opening balance")
        for _, _, unit in lines:
            if unit:
                _uuid(unit, "unit_id")
        difference = -sum(a for _, a, _ in lines)
        if difference:
            # The fund's equity takes the difference: what the owners' fund is worth at joining.
            lines.append((domain.FUND_EQUITY, difference, ""))

        async def run() -> ledger_pb2.Entry:
            head = await session.get(store.ChainHead, estate_id)
            if head is not None and head.last_index > 0:
                raise FailedPrecondition(
                    "opening balances are the first entry of an estate's books; this estate "
                    "has entries already"
                )
            row = await journal.post(
                session,
                self.outbox,
                estate_id,
                journal.Draft(
                    kind=Kind.ENTRY_KIND_OPENING,
                    booked_on=day,
                    description=(request.description.strip() or "期初余额（加入信托制时）")[:500],
                    lines=lines,
                ),
                principal.user_id,
            )
            # Historical arrears become the oldest months owed: payments settle them first.
            for code, amount, unit in lines:
                if code == domain.RECEIVABLES and unit and amount > 0:
                    session.add(
                        fees.FeeAssessment(
                            estate_id=estate_id,
                            period=domain.period_of(day),
                            unit_id=uuid.UUID(unit),
                            unit_type="historical",
                            area_centi_m2=0,
                            rate_num=0,
                            rate_den=1,
                            amount_fen=amount,
                            entry_id=row.entry_id,
                        )
                    )
            await audit.record(
                session,
                estate_id,
                "ledger.opening",
                str(row.entry_id),
                {"as_of": day.isoformat(), "lines": len(lines)},
            )
            return await self._entry(session, row)

        async with self.db.estate_tx(estate_id) as session:
            return await self._once(
                session, estate_id, "PostOpeningBalances", request, ledger_pb2.Entry, run
            )

    async def SaveBudget(
        self, request: ledger_pb2.SaveBudgetRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Budget:
        _, estate_id = authorize_estate(Action.BUDGET_DRAFT, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            budget = await decisions.save_budget(
                session, estate_id, request.year, list(request.lines)
            )
            await audit.record(session, estate_id, "budget.save", str(request.year))
            return await decisions.budget_pb(session, budget)

    async def GetBudget(
        self, request: ledger_pb2.GetBudgetRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Budget:
        _, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            budget = (
                (
                    await session.execute(
                        select(store.Budget).where(
                            store.Budget.estate_id == estate_id, store.Budget.year == request.year
                        )
                    )
                )
                .scalars()
                .first()
            )
            if budget is None:
                raise NotFound(f"no budget for {request.year}")
            return await decisions.budget_pb(session, budget)

    # -- the maintenance fund --------------------------------------------------------------------
    async def RaiseMaintenanceFund(
        self, request: ledger_pb2.RaiseMaintenanceFundRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.MaintenanceFund:
        principal, estate_id = authorize_estate(Action.MAINTENANCE_RAISE, request.estate_id)

        async def run() -> ledger_pb2.MaintenanceFund:
            await maintenance.raise_fund(
                session,
                self.outbox,
                estate_id,
                request.raise_id.strip(),
                request.fen_per_m2,
                request.booked_on,
                principal.user_id,
            )
            await audit.record(
                session,
                estate_id,
                "maintenance.raise",
                request.raise_id,
                {"fen_per_m2": request.fen_per_m2},
            )
            return await maintenance.summary(session, estate_id, named_units=True)

        async with self.db.estate_tx(estate_id) as session:
            return await self._once(
                session, estate_id, "RaiseMaintenanceFund", request, ledger_pb2.MaintenanceFund, run
            )

    async def RecordMaintenancePayment(
        self,
        request: ledger_pb2.RecordMaintenancePaymentRequest,
        context: grpc.aio.ServicerContext,
    ) -> ledger_pb2.MaintenanceFund:
        principal, estate_id = authorize_estate(Action.MAINTENANCE_RAISE, request.estate_id)
        unit = str(_uuid(request.unit_id, "unit_id"))

        async def run() -> ledger_pb2.MaintenanceFund:
            await maintenance.record_payment(
                session,
                self.outbox,
                estate_id,
                unit,
                request.amount_fen,
                request.received_on,
                principal.user_id,
            )
            return await maintenance.summary(session, estate_id, named_units=True)

        async with self.db.estate_tx(estate_id) as session:
            return await self._once(
                session,
                estate_id,
                "RecordMaintenancePayment",
                request,
                ledger_pb2.MaintenanceFund,
                run,
            )

    async def GetMaintenanceFund(
        self, request: ledger_pb2.GetMaintenanceFundRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.MaintenanceFund:
        principal, estate_id = authorize_estate(Action.LEDGER_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            return await maintenance.summary(
                session,
                estate_id,
                named_units=allowed(principal, Action.ARREARS_READ_UNITS, estate_id),
            )


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(f"{what} must be a UUID") from None


def _is_sha(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
