"""REST routes of the ledger: the journal, the fund, proofs, dual-control payments, periods."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from xinyi.ledger.v1 import events_pb2, ledger_pb2
from xinyi_gateway.deps import UUID_PATTERN, Authed, EstateId, IdempotencyKey, Svc, iso

router = APIRouter(prefix="/api/v1/estates/{estate_id}", tags=["ledger"])

EntryId = Annotated[str, Path(pattern=UUID_PATTERN)]
PeriodPath = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
Fen = Annotated[int, Field(gt=0, le=10**13, description="Amount in fen (100 fen = 1 yuan)")]
Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
Source = Literal["property_fee", "parking", "advertising", "venue", "other"]
KINDS = {k.removeprefix("ENTRY_KIND_").lower(): v for k, v in events_pb2.EntryKind.items() if v}
STATES = {
    k.removeprefix("DISBURSEMENT_STATE_").lower(): v
    for k, v in events_pb2.DisbursementState.items()
    if v
}


def _kind(value: int) -> str:
    return events_pb2.EntryKind.Name(value).removeprefix("ENTRY_KIND_").lower()


def _state(value: int) -> str:
    return events_pb2.DisbursementState.Name(value).removeprefix("DISBURSEMENT_STATE_").lower()


class AccountOut(BaseModel):
    code: str
    name: str
    type: str


@router.get(
    "/ledger/accounts", response_model=list[AccountOut], summary="The estate's chart of accounts"
)
async def accounts(estate_id: EstateId, who: Authed, svc: Svc) -> list[AccountOut]:
    reply = await svc.ledger.ListAccounts(
        ledger_pb2.ListAccountsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [
        AccountOut(
            code=a.code,
            name=a.name,
            type=ledger_pb2.AccountType.Name(a.type).removeprefix("ACCOUNT_TYPE_").lower(),
        )
        for a in reply.accounts
    ]


class AccountIn(BaseModel):
    code: str = Field(pattern=r"^[1-5]\d{3}$", description="First digit: 1 asset ... 5 expense")
    name: str = Field(min_length=1, max_length=100)


@router.post(
    "/ledger/accounts",
    response_model=AccountOut,
    status_code=201,
    summary="Add an account of the estate's own to its chart (company manager)",
)
async def add_account(estate_id: EstateId, body: AccountIn, who: Authed, svc: Svc) -> AccountOut:
    a = await svc.ledger.AddAccount(
        ledger_pb2.AddAccountRequest(estate_id=estate_id, code=body.code, name=body.name),
        metadata=who.metadata,
    )
    return AccountOut(
        code=a.code,
        name=a.name,
        type=ledger_pb2.AccountType.Name(a.type).removeprefix("ACCOUNT_TYPE_").lower(),
    )


class ItemIO(BaseModel):
    description: str = Field(max_length=200)
    amount_fen: Fen
    occurred_on: Day | None = None


class IncomeIn(BaseModel):
    kind: Literal["income"] = Field(
        default="income",
        description="Only income is posted directly: money leaves the fund only through a "
        "disbursement approved by the approving body",
    )
    source: Source
    amount_fen: Fen
    description: str = Field(default="", max_length=500)
    booked_on: Day | None = None
    items: list[ItemIO] = Field(default_factory=list, max_length=1000)
    voucher_sha256: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list, max_length=50
    )


class LineOut(BaseModel):
    account: str
    amount_fen: int
    unit_id: str | None = Field(
        description="The unit, for those who may see a named unit's arrears; else null"
    )
    unit_ref: str | None = Field(description="The unit's pseudonym, which the entry hash covers")


class EntryOut(BaseModel):
    entry_id: str
    chain_index: int
    kind: str
    period: str
    booked_on: str
    description: str
    lines: list[LineOut]
    income_source: str | None
    lump_sum: bool
    items: list[ItemIO]
    voucher_sha256: list[str]
    reverses_entry_id: str | None
    late_for_period: str | None
    disbursement_id: str | None
    entry_hash: str
    chain_hash: str
    recorded_at: str | None
    canonical: dict[str, Any]


def _entry(e: ledger_pb2.Entry) -> EntryOut:
    return EntryOut(
        entry_id=e.entry_id,
        chain_index=e.chain_index,
        kind=_kind(e.kind),
        period=e.period,
        booked_on=e.booked_on,
        description=e.description,
        lines=[
            LineOut(
                account=ln.account_code,
                amount_fen=ln.amount_fen,
                unit_id=ln.unit_id or None,
                unit_ref=ln.unit_ref or None,
            )
            for ln in e.lines
        ],
        income_source=e.income_source or None,
        lump_sum=e.lump_sum,
        items=[
            ItemIO(
                description=i.description,
                amount_fen=i.amount_fen,
                occurred_on=i.occurred_on or None,
            )
            for i in e.items
        ],
        voucher_sha256=list(e.voucher_sha256),
        reverses_entry_id=e.reverses_entry_id or None,
        late_for_period=e.late_for_period or None,
        disbursement_id=e.disbursement_id or None,
        entry_hash=e.entry_hash,
        chain_hash=e.chain_hash,
        recorded_at=iso(e.recorded_at),
        canonical=json.loads(e.canonical_json or "{}"),
    )


class EntryPage(BaseModel):
    entries: list[EntryOut]
    next_cursor: str | None


@router.post(
    "/ledger/entries",
    response_model=EntryOut,
    status_code=201,
    summary="Post income received into the common fund (company)",
)
async def post_income(
    estate_id: EstateId,
    body: IncomeIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> EntryOut:
    reply = await svc.ledger.PostIncome(
        ledger_pb2.PostIncomeRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            source=body.source,
            amount_fen=body.amount_fen,
            description=body.description,
            booked_on=body.booked_on or "",
            items=[
                ledger_pb2.IncomeItem(
                    description=i.description,
                    amount_fen=i.amount_fen,
                    occurred_on=i.occurred_on or "",
                )
                for i in body.items
            ],
            voucher_sha256=body.voucher_sha256,
        ),
        metadata=who.metadata,
    )
    return _entry(reply)


@router.get("/ledger/entries", response_model=EntryPage, summary="The journal, newest first")
async def list_entries(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    account: Annotated[str | None, Query(max_length=20)] = None,
    kind: Annotated[Literal[tuple(KINDS)] | None, Query()] = None,  # type: ignore[valid-type]
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
) -> EntryPage:
    reply = await svc.ledger.ListEntries(
        ledger_pb2.ListEntriesRequest(
            estate_id=estate_id,
            period=period or "",
            account_code=account or "",
            kind=f"ENTRY_KIND_{kind.upper()}" if kind else None,
            page_size=limit,
            page_token=cursor or "",
        ),
        metadata=who.metadata,
    )
    return EntryPage(
        entries=[_entry(e) for e in reply.entries], next_cursor=reply.next_page_token or None
    )


@router.get("/ledger/entries/{entry_id}", response_model=EntryOut, summary="One entry")
async def get_entry(estate_id: EstateId, entry_id: EntryId, who: Authed, svc: Svc) -> EntryOut:
    reply = await svc.ledger.GetEntry(
        ledger_pb2.GetEntryRequest(estate_id=estate_id, entry_id=entry_id), metadata=who.metadata
    )
    return _entry(reply)


class ReversalIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


@router.post(
    "/ledger/entries/{entry_id}/reversal",
    response_model=EntryOut,
    status_code=201,
    summary="Correct an income entry, payment or fee assessment by a reversal pointing at it",
)
async def reverse(
    estate_id: EstateId,
    entry_id: EntryId,
    body: ReversalIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> EntryOut:
    reply = await svc.ledger.ReverseEntry(
        ledger_pb2.ReverseEntryRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            entry_id=entry_id,
            reason=body.reason,
        ),
        metadata=who.metadata,
    )
    return _entry(reply)


class SignatureOut(BaseModel):
    role: str
    user_id: str
    key_id: str
    signature: str
    signed_at: str | None
    public_jwk: dict[str, Any]


class HeadOut(BaseModel):
    period: str
    state: str
    overdue: bool
    payload: dict[str, Any]
    payload_json: str = Field(description="The exact bytes (UTF-8) that signatures are over")
    merkle_root: str
    chain_head: str
    entry_count: int
    closed_at: str | None
    signatures: list[SignatureOut]


def _head(h: ledger_pb2.PeriodHead) -> HeadOut:
    return HeadOut(
        period=h.period,
        state=h.state,
        overdue=h.overdue,
        payload=json.loads(h.payload_json),
        payload_json=h.payload_json,
        merkle_root=h.merkle_root,
        chain_head=h.chain_head,
        entry_count=h.entry_count,
        closed_at=iso(h.closed_at),
        signatures=[
            SignatureOut(
                role=s.role,
                user_id=s.user_id,
                key_id=s.key_id,
                signature=s.signature,
                signed_at=iso(s.signed_at),
                public_jwk=json.loads(s.public_jwk),
            )
            for s in h.signatures
        ],
    )


class ProofOut(BaseModel):
    """Exactly what `services/ledger/verify_entry.py` checks offline, plus the entry as shown."""

    entry: dict[str, Any] = Field(description="The entry's fields, as hashed (canonical JSON)")
    entry_hash: str
    leaf_index: int
    tree_size: int
    audit_path: list[str]
    head: dict[str, Any] = Field(description="The period head the signatures are over")
    signatures: list[SignatureOut]
    head_state: str
    record: EntryOut


@router.get(
    "/ledger/entries/{entry_id}/proof",
    response_model=ProofOut,
    summary="The entry's inclusion proof and its period's signed head, to check offline",
)
async def proof(estate_id: EstateId, entry_id: EntryId, who: Authed, svc: Svc) -> ProofOut:
    reply = await svc.ledger.GetEntryProof(
        ledger_pb2.GetEntryProofRequest(estate_id=estate_id, entry_id=entry_id),
        metadata=who.metadata,
    )
    head = _head(reply.head)
    return ProofOut(
        entry=json.loads(reply.entry.canonical_json),
        entry_hash=reply.entry.entry_hash,
        leaf_index=reply.leaf_index,
        tree_size=reply.tree_size,
        audit_path=list(reply.audit_path),
        head=head.payload,
        signatures=head.signatures,
        head_state=head.state,
        record=_entry(reply.entry),
    )


class FundOut(BaseModel):
    period: str
    fund_bank_fen: int
    maintenance_bank_fen: int
    period_income_fen: int
    period_expense_fen: int
    entry_count: int
    balances: list[dict[str, Any]]
    statement_through: str | None = Field(description="The last day of the bank's statements")
    reconciled_through: str | None = Field(
        description="Every statement line up to this day is tied to its entry or explained"
    )
    open_statement_lines: int


@router.get("/fund", response_model=FundOut, summary="The common fund: balances and this month")
async def fund(estate_id: EstateId, who: Authed, svc: Svc) -> FundOut:
    f = await svc.ledger.GetFund(
        ledger_pb2.GetFundRequest(estate_id=estate_id), metadata=who.metadata
    )
    return FundOut(
        period=f.period,
        fund_bank_fen=f.fund_bank_fen,
        maintenance_bank_fen=f.maintenance_bank_fen,
        period_income_fen=f.period_income_fen,
        period_expense_fen=f.period_expense_fen,
        entry_count=f.entry_count,
        balances=[
            {"code": b.code, "name": b.name, "balance_fen": b.balance_fen} for b in f.balances
        ],
        statement_through=f.statement_through or None,
        reconciled_through=f.reconciled_through or None,
        open_statement_lines=f.open_statement_lines,
    )


class TermsIO(BaseModel):
    ratio: str | None = Field(default=None, max_length=40, examples=["1/10"])
    fixed_monthly_fen: Fen | None = None
    sources: list[Source] = Field(default_factory=list, max_length=5)
    effective_from: Day


@router.put(
    "/ledger/contract-terms",
    response_model=TermsIO,
    summary="The trust contract's remuneration terms (operator, until contracts exist)",
)
async def set_terms(estate_id: EstateId, body: TermsIO, who: Authed, svc: Svc) -> TermsIO:
    t = await svc.ledger.SetContractTerms(
        ledger_pb2.SetContractTermsRequest(
            terms=ledger_pb2.ContractTerms(
                estate_id=estate_id,
                ratio=body.ratio or "",
                fixed_monthly_fen=body.fixed_monthly_fen or 0,
                sources=body.sources,
                effective_from=body.effective_from,
            )
        ),
        metadata=who.metadata,
    )
    return TermsIO(
        ratio=t.ratio or None,
        fixed_monthly_fen=t.fixed_monthly_fen or None,
        sources=list(t.sources),
        effective_from=t.effective_from,
    )


class TermsOut(TermsIO):
    remuneration_suspended_from: str | None = Field(
        default=None,
        description="The company serving now refused to hand the estate over: no remuneration "
        "accrues to it from this day (Civil Code art. 949)",
    )


@router.get("/ledger/contract-terms", response_model=TermsOut, summary="The remuneration terms")
async def get_terms(estate_id: EstateId, who: Authed, svc: Svc) -> TermsOut:
    t = await svc.ledger.GetContractTerms(
        ledger_pb2.GetContractTermsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return TermsOut(
        ratio=t.ratio or None,
        fixed_monthly_fen=t.fixed_monthly_fen or None,
        sources=list(t.sources),
        effective_from=t.effective_from,
        remuneration_suspended_from=t.remuneration_suspended_from or None,
    )


class ThresholdIO(BaseModel):
    up_to_fen: Fen | None = Field(description="Inclusive bound; null for above all bounds")
    approvals: int = Field(ge=1, le=20)


class ThresholdsIO(BaseModel):
    thresholds: list[ThresholdIO] = Field(min_length=1, max_length=10)
    described: list[str] = Field(default_factory=list, max_length=10)


def _thresholds(t: ledger_pb2.ApprovalThresholds) -> ThresholdsIO:
    return ThresholdsIO(
        thresholds=[
            ThresholdIO(up_to_fen=x.up_to_fen or None, approvals=x.approvals) for x in t.thresholds
        ],
        described=list(t.described),
    )


@router.get(
    "/ledger/approval-thresholds",
    response_model=ThresholdsIO,
    summary="How many approvals a payment needs, by amount, with the bounds in words",
)
async def get_thresholds(estate_id: EstateId, who: Authed, svc: Svc) -> ThresholdsIO:
    return _thresholds(
        await svc.ledger.GetApprovalThresholds(
            ledger_pb2.GetApprovalThresholdsRequest(estate_id=estate_id), metadata=who.metadata
        )
    )


@router.put(
    "/ledger/approval-thresholds",
    response_model=ThresholdsIO,
    summary="Set the approval thresholds (operator, until contracts exist)",
)
async def set_thresholds(
    estate_id: EstateId, body: ThresholdsIO, who: Authed, svc: Svc
) -> ThresholdsIO:
    return _thresholds(
        await svc.ledger.SetApprovalThresholds(
            ledger_pb2.SetApprovalThresholdsRequest(
                estate_id=estate_id,
                thresholds=[
                    ledger_pb2.Threshold(up_to_fen=t.up_to_fen or 0, approvals=t.approvals)
                    for t in body.thresholds
                ],
            ),
            metadata=who.metadata,
        )
    )


# -- disbursements -----------------------------------------------------------------------------
class DisbursementIn(BaseModel):
    amount_fen: Fen
    payee: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=2000)
    expense_code: str = Field(
        pattern=r"^(5\d{3}|2101)$",
        description="An expense account of the estate (5xxx), or 2101 remuneration",
    )
    budget_line_id: str = Field(default="", max_length=64)
    voucher_sha256: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list, max_length=50
    )
    maintenance_use_id: str = Field(
        default="",
        max_length=64,
        description="Pay from the maintenance fund: the use the owners' assembly approved",
    )


class DisbursementOut(BaseModel):
    disbursement_id: str
    state: str
    amount_fen: int
    payee: str
    purpose: str
    expense_code: str
    budget_line_id: str | None
    voucher_sha256: list[str]
    approvals_required: int
    approvals: list[dict[str, Any]]
    requested_by: str
    requested_at: str | None
    rejected_reason: str | None
    bank_evidence: str | None
    paid_on: str | None
    entry_id: str | None
    maintenance_use_id: str | None
    origin: Literal["request", "bank_debit"] = Field(
        description="request: asked before paying; bank_debit: taken by the bank, to ratify"
    )
    suspense_entry_id: str | None


def _disbursement(d: ledger_pb2.Disbursement) -> DisbursementOut:
    return DisbursementOut(
        disbursement_id=d.disbursement_id,
        state=_state(d.state),
        amount_fen=d.amount_fen,
        payee=d.payee,
        purpose=d.purpose,
        expense_code=d.expense_code,
        budget_line_id=d.budget_line_id or None,
        voucher_sha256=list(d.voucher_sha256),
        approvals_required=d.approvals_required,
        approvals=[
            {"user_id": a.user_id, "username": a.username, "approved_at": iso(a.approved_at)}
            for a in d.approvals
        ],
        requested_by=d.requested_by,
        requested_at=iso(d.requested_at),
        rejected_reason=d.rejected_reason or None,
        bank_evidence=d.bank_voucher_sha256 or None,
        paid_on=d.paid_on or None,
        entry_id=d.entry_id or None,
        maintenance_use_id=d.maintenance_use_id or None,
        origin=d.origin or "request",
        suspense_entry_id=d.suspense_entry_id or None,
    )


class BankDebitIn(BaseModel):
    amount_fen: Fen
    debited_on: Day
    payee: str = Field(min_length=1, max_length=200, description="Who took it, per the statement")
    purpose: str = Field(min_length=1, max_length=2000, description="The statement's words")
    expense_code: str = Field(
        default="5090", pattern=r"^5\d{3}$", description="The expense it is proposed as"
    )
    bank_evidence: str = Field(
        min_length=1, max_length=500, description="The statement's reference for the debit"
    )


@router.post(
    "/bank-debits",
    response_model=DisbursementOut,
    status_code=201,
    summary="Record a debit the bank made on its own; the approving body ratifies it",
)
async def record_bank_debit(
    estate_id: EstateId,
    body: BankDebitIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> DisbursementOut:
    return _disbursement(
        await svc.ledger.RecordBankDebit(
            ledger_pb2.RecordBankDebitRequest(
                idempotency_key=idempotency_key or "",
                estate_id=estate_id,
                amount_fen=body.amount_fen,
                debited_on=body.debited_on,
                payee=body.payee,
                purpose=body.purpose,
                expense_code=body.expense_code,
                bank_evidence=body.bank_evidence,
            ),
            metadata=who.metadata,
        )
    )


DisbursementId = Annotated[str, Path(pattern=UUID_PATTERN)]


@router.post(
    "/disbursements",
    response_model=DisbursementOut,
    status_code=201,
    summary="Request a payment out of the fund (company)",
)
async def request_disbursement(
    estate_id: EstateId,
    body: DisbursementIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> DisbursementOut:
    return _disbursement(
        await svc.ledger.RequestDisbursement(
            ledger_pb2.RequestDisbursementRequest(
                idempotency_key=idempotency_key or "",
                estate_id=estate_id,
                amount_fen=body.amount_fen,
                payee=body.payee,
                purpose=body.purpose,
                expense_code=body.expense_code,
                budget_line_id=body.budget_line_id,
                voucher_sha256=body.voucher_sha256,
                maintenance_use_id=body.maintenance_use_id,
            ),
            metadata=who.metadata,
        )
    )


@router.get(
    "/disbursements",
    response_model=list[DisbursementOut],
    summary="Payments out of the fund in every state",
)
async def list_disbursements(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    state: Annotated[Literal[tuple(STATES)] | None, Query()] = None,  # type: ignore[valid-type]
) -> list[DisbursementOut]:
    reply = await svc.ledger.ListDisbursements(
        ledger_pb2.ListDisbursementsRequest(
            estate_id=estate_id, state=f"DISBURSEMENT_STATE_{state.upper()}" if state else None
        ),
        metadata=who.metadata,
    )
    return [_disbursement(d) for d in reply.disbursements]


class ApprovalIn(BaseModel):
    totp: str = Field(min_length=6, max_length=10, description="Current code of the approver's app")


@router.post(
    "/disbursements/{disbursement_id}/approvals",
    response_model=DisbursementOut,
    summary="Approve a payment (approving body), confirmed with TOTP",
)
async def approve(
    estate_id: EstateId, disbursement_id: DisbursementId, body: ApprovalIn, who: Authed, svc: Svc
) -> DisbursementOut:
    return _disbursement(
        await svc.ledger.ApproveDisbursement(
            ledger_pb2.ApproveDisbursementRequest(
                estate_id=estate_id, disbursement_id=disbursement_id, totp=body.totp
            ),
            metadata=who.metadata,
        )
    )


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.post(
    "/disbursements/{disbursement_id}/rejection",
    response_model=DisbursementOut,
    summary="Reject a payment (approving body)",
)
async def reject(
    estate_id: EstateId, disbursement_id: DisbursementId, body: ReasonIn, who: Authed, svc: Svc
) -> DisbursementOut:
    return _disbursement(
        await svc.ledger.RejectDisbursement(
            ledger_pb2.RejectDisbursementRequest(
                estate_id=estate_id, disbursement_id=disbursement_id, reason=body.reason
            ),
            metadata=who.metadata,
        )
    )


@router.post(
    "/disbursements/{disbursement_id}/cancellation",
    response_model=DisbursementOut,
    summary="Cancel a payment until it is paid (company)",
)
async def cancel(
    estate_id: EstateId, disbursement_id: DisbursementId, who: Authed, svc: Svc
) -> DisbursementOut:
    return _disbursement(
        await svc.ledger.CancelDisbursement(
            ledger_pb2.CancelDisbursementRequest(
                estate_id=estate_id, disbursement_id=disbursement_id
            ),
            metadata=who.metadata,
        )
    )


class PaidIn(BaseModel):
    bank_evidence: str = Field(
        min_length=1,
        max_length=500,
        description="The bank's payment voucher sha256, or its reference",
    )
    paid_on: Day | None = None


@router.post(
    "/disbursements/{disbursement_id}/payment",
    response_model=DisbursementOut,
    summary="Record the bank's payment of an approved disbursement; posts the expense",
)
async def paid(
    estate_id: EstateId,
    disbursement_id: DisbursementId,
    body: PaidIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> DisbursementOut:
    return _disbursement(
        await svc.ledger.RecordDisbursementPaid(
            ledger_pb2.RecordDisbursementPaidRequest(
                idempotency_key=idempotency_key or "",
                estate_id=estate_id,
                disbursement_id=disbursement_id,
                bank_evidence=body.bank_evidence,
                paid_on=body.paid_on or "",
            ),
            metadata=who.metadata,
        )
    )


# -- periods ---------------------------------------------------------------------------------
@router.post(
    "/periods/{period}/close",
    response_model=HeadOut,
    summary="Close a month: trial balance, Merkle root, chain head (company)",
)
async def close(estate_id: EstateId, period: PeriodPath, who: Authed, svc: Svc) -> HeadOut:
    return _head(
        await svc.ledger.ClosePeriod(
            ledger_pb2.ClosePeriodRequest(estate_id=estate_id, period=period), metadata=who.metadata
        )
    )


@router.get(
    "/periods/{period}/head",
    response_model=HeadOut,
    summary="A closed month's head and its signatures",
)
async def head(estate_id: EstateId, period: PeriodPath, who: Authed, svc: Svc) -> HeadOut:
    return _head(
        await svc.ledger.GetPeriodHead(
            ledger_pb2.GetPeriodHeadRequest(estate_id=estate_id, period=period),
            metadata=who.metadata,
        )
    )


class SignIn(BaseModel):
    key_id: str = Field(min_length=1, max_length=64)
    signature: str = Field(min_length=1, max_length=400, description="base64url, over payload_json")


@router.post(
    "/periods/{period}/signatures",
    response_model=HeadOut,
    summary="Sign (company) or co-sign (committee) a head with a device key",
)
async def sign(
    estate_id: EstateId, period: PeriodPath, body: SignIn, who: Authed, svc: Svc
) -> HeadOut:
    return _head(
        await svc.ledger.SignPeriodHead(
            ledger_pb2.SignPeriodHeadRequest(
                estate_id=estate_id, period=period, key_id=body.key_id, signature=body.signature
            ),
            metadata=who.metadata,
        )
    )


@router.get("/ledger/verify", summary="Recompute the chain and every head; name the first break")
async def verify(estate_id: EstateId, who: Authed, svc: Svc) -> dict[str, Any]:
    v = await svc.ledger.VerifyLedger(
        ledger_pb2.VerifyLedgerRequest(estate_id=estate_id), metadata=who.metadata
    )
    return {
        "ok": v.ok,
        "entries_checked": v.entries_checked,
        "heads_checked": v.heads_checked,
        "first_problem": v.first_problem or None,
        "first_broken_index": v.first_broken_index or None,
    }


# -- opening balances and budgets ----------------------------------------------------------------
class OpeningLine(BaseModel):
    account_code: str = Field(pattern=r"^\d{4}$")
    amount_fen: int = Field(ge=-(10**13), le=10**13, description="Debit-positive, in fen")
    unit_id: Annotated[str, Field(pattern=UUID_PATTERN)] | None = None


class OpeningIn(BaseModel):
    as_of: Day
    balances: list[OpeningLine] = Field(min_length=1, max_length=20_000)
    description: str = Field(default="", max_length=500)


@router.post(
    "/ledger/opening",
    response_model=EntryOut,
    status_code=201,
    summary="Opening balances and historical arrears of an estate joining mid-life",
)
async def opening(
    estate_id: EstateId,
    body: OpeningIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> EntryOut:
    return _entry(
        await svc.ledger.PostOpeningBalances(
            ledger_pb2.PostOpeningBalancesRequest(
                idempotency_key=idempotency_key or "",
                estate_id=estate_id,
                as_of=body.as_of,
                description=body.description,
                balances=[
                    ledger_pb2.OpeningBalance(
                        account_code=b.account_code,
                        amount_fen=b.amount_fen,
                        unit_id=b.unit_id or "",
                    )
                    for b in body.balances
                ],
            ),
            metadata=who.metadata,
        )
    )


class BudgetLineIO(BaseModel):
    line_id: str = Field(default="", max_length=64)
    name: str = Field(min_length=1, max_length=200)
    expense_code: str = Field(pattern=r"^(5\d{3}|2101)$")
    amount_fen: int = Field(ge=0, le=10**13)
    actual_fen: int = Field(default=0, description="Spent so far; ignored when sent")


class BudgetIn(BaseModel):
    lines: list[BudgetLineIO] = Field(min_length=1, max_length=200)


class BudgetOut(BaseModel):
    budget_id: str
    year: int
    state: str
    lines: list[BudgetLineIO]
    total_fen: int
    actual_fen: int
    decision_subject: str


def _budget(b: ledger_pb2.Budget) -> BudgetOut:
    return BudgetOut(
        budget_id=b.budget_id,
        year=b.year,
        state=b.state,
        total_fen=b.total_fen,
        actual_fen=b.actual_fen,
        decision_subject=b.decision_subject,
        lines=[
            BudgetLineIO(
                line_id=ln.line_id,
                name=ln.name,
                expense_code=ln.expense_code,
                amount_fen=ln.amount_fen,
                actual_fen=ln.actual_fen,
            )
            for ln in b.lines
        ],
    )


Year = Annotated[int, Path(ge=2000, le=2200)]


@router.put(
    "/budgets/{year}",
    response_model=BudgetOut,
    summary="Draft the year's budget (company manager, approving body) until approved",
)
async def save_budget(
    estate_id: EstateId, year: Year, body: BudgetIn, who: Authed, svc: Svc
) -> BudgetOut:
    return _budget(
        await svc.ledger.SaveBudget(
            ledger_pb2.SaveBudgetRequest(
                estate_id=estate_id,
                year=year,
                lines=[
                    ledger_pb2.BudgetLine(
                        line_id=ln.line_id,
                        name=ln.name,
                        expense_code=ln.expense_code,
                        amount_fen=ln.amount_fen,
                    )
                    for ln in body.lines
                ],
            ),
            metadata=who.metadata,
        )
    )


@router.get(
    "/budgets/{year}",
    response_model=BudgetOut,
    summary="The year's budget with actual spending per line",
)
async def get_budget(estate_id: EstateId, year: Year, who: Authed, svc: Svc) -> BudgetOut:
    return _budget(
        await svc.ledger.GetBudget(
            ledger_pb2.GetBudgetRequest(estate_id=estate_id, year=year), metadata=who.metadata
        )
    )


# -- the maintenance fund ------------------------------------------------------------------------
class RaiseIn(BaseModel):
    raise_id: str = Field(
        min_length=1,
        max_length=64,
        description="The raise the assembly decided: maintenance_raise:<raise_id>",
    )
    fen_per_m2: int = Field(gt=0, le=1_000_000)
    booked_on: Day | None = None


class MaintenancePaymentIn(BaseModel):
    unit_id: Annotated[str, Field(pattern=UUID_PATTERN)]
    amount_fen: Fen
    received_on: Day | None = None


class MaintenanceOut(BaseModel):
    bank_fen: int
    raised_fen: int
    outstanding_fen: int
    units_owing: int
    owed: list[dict[str, Any]] | None = Field(
        description="Unit by unit, only for those who may see a named unit's arrears"
    )


def _maintenance(m: ledger_pb2.MaintenanceFund, named: bool) -> MaintenanceOut:
    return MaintenanceOut(
        bank_fen=m.bank_fen,
        raised_fen=m.raised_fen,
        outstanding_fen=m.outstanding_fen,
        units_owing=m.units_owing,
        owed=[{"unit_id": o.unit_id, "owed_fen": o.owed_fen} for o in m.owed] if named else None,
    )


@router.post(
    "/maintenance-fund/raises",
    response_model=MaintenanceOut,
    status_code=201,
    summary="Raise the maintenance fund by area, on the assembly's decision (company)",
)
async def raise_maintenance(
    estate_id: EstateId,
    body: RaiseIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> MaintenanceOut:
    return _maintenance(
        await svc.ledger.RaiseMaintenanceFund(
            ledger_pb2.RaiseMaintenanceFundRequest(
                idempotency_key=idempotency_key or "",
                estate_id=estate_id,
                raise_id=body.raise_id,
                fen_per_m2=body.fen_per_m2,
                booked_on=body.booked_on or "",
            ),
            metadata=who.metadata,
        ),
        named=True,
    )


@router.post(
    "/maintenance-fund/payments",
    response_model=MaintenanceOut,
    status_code=201,
    summary="A unit's payment into the maintenance fund (company)",
)
async def pay_maintenance(
    estate_id: EstateId,
    body: MaintenancePaymentIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> MaintenanceOut:
    return _maintenance(
        await svc.ledger.RecordMaintenancePayment(
            ledger_pb2.RecordMaintenancePaymentRequest(
                idempotency_key=idempotency_key or "",
                estate_id=estate_id,
                unit_id=body.unit_id,
                amount_fen=body.amount_fen,
                received_on=body.received_on or "",
            ),
            metadata=who.metadata,
        ),
        named=True,
    )


@router.get(
    "/maintenance-fund",
    response_model=MaintenanceOut,
    summary="The maintenance fund: balance, raised, outstanding",
)
async def maintenance_fund(estate_id: EstateId, who: Authed, svc: Svc) -> MaintenanceOut:
    m = await svc.ledger.GetMaintenanceFund(
        ledger_pb2.GetMaintenanceFundRequest(estate_id=estate_id), metadata=who.metadata
    )
    return _maintenance(m, named=bool(m.owed) or m.units_owing == 0)
