"""REST routes of bringing an estate into the trust model: the onboarding case, the stages a
community sees, the trust contract and its device-key signatures, notice and the handover."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from xinyi.identity.v1 import onboarding_pb2
from xinyi_gateway.deps import UUID_PATTERN, Authed, EstateId, IdempotencyKey, Svc, iso

router = APIRouter(prefix="/api/v1/estates/{estate_id}", tags=["onboarding"])
stages = APIRouter(prefix="/api/v1/onboarding", tags=["onboarding"])

ContractId = Annotated[str, Path(pattern=UUID_PATTERN)]
HandoverId = Annotated[str, Path(pattern=UUID_PATTERN)]
Arrangement = Literal["none", "lump_sum", "self_managed", "other"]
Stage = Literal[
    "not_started",
    "opened",
    "group_formed",
    "tendering",
    "decided",
    "contract_signed",
    "active",
    "changing",
]


class Member(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    affiliation: str = Field(default="", max_length=100, description="e.g. 社区党委, 业主代表")
    user_id: str | None = Field(default=None, pattern=UUID_PATTERN)


class SituationIO(BaseModel):
    arrangement: Arrangement = Field(
        description="none (nobody manages it), lump_sum (an ordinary 包干制 contract), "
        "self_managed, other"
    )
    notes: str = Field(default="", max_length=4000)
    surveyed_households: int = Field(default=0, ge=0, le=1_000_000)
    accepting_households: int = Field(
        default=0, ge=0, le=1_000_000, description="Of those surveyed: accepting the trust model"
    )
    needs: str = Field(default="", max_length=4000)


class BaselineIO(BaseModel):
    payment_rate_permille: int | None = Field(default=None, ge=0, le=1000)
    open_disputes: int | None = Field(default=None, ge=0, le=1_000_000)
    satisfaction_permille: int | None = Field(default=None, ge=0, le=1000)


class CaseIn(BaseModel):
    working_group: list[Member] = Field(min_length=1, max_length=30)
    situation: SituationIO
    baseline: BaselineIO = BaselineIO()


class CasePatch(BaseModel):
    working_group: list[Member] | None = Field(default=None, min_length=1, max_length=30)
    situation: SituationIO | None = None
    baseline: BaselineIO | None = None


class CaseOut(BaseModel):
    estate_id: str
    case_id: str
    estate_name: str
    stage: Stage
    working_group: list[Member]
    situation: SituationIO
    baseline: BaselineIO
    opened_at: str | None
    tender_id: str | None
    chosen_company_id: str | None
    trust_model_ballot_id: str | None = Field(
        description="The ballot by which the assembly adopted the trust model "
        "(subject trust_model:<case_id>)"
    )
    company_ballot_id: str | None
    contract_id: str | None
    approving_body: str | None


def _unknown(value: int | None) -> int:
    return -1 if value is None else value


def _known(value: int) -> int | None:
    return None if value < 0 else value


def _members(group: list[Member]) -> list[onboarding_pb2.WorkingGroupMember]:
    return [
        onboarding_pb2.WorkingGroupMember(
            name=m.name, affiliation=m.affiliation, user_id=m.user_id or ""
        )
        for m in group
    ]


def _situation(s: SituationIO) -> onboarding_pb2.Situation:
    return onboarding_pb2.Situation(**s.model_dump())


def _baseline(b: BaselineIO) -> onboarding_pb2.Baseline:
    return onboarding_pb2.Baseline(
        payment_rate_permille=_unknown(b.payment_rate_permille),
        open_disputes=_unknown(b.open_disputes),
        satisfaction_permille=_unknown(b.satisfaction_permille),
    )


def _case(c: onboarding_pb2.OnboardingCase) -> CaseOut:
    return CaseOut(
        estate_id=c.estate_id,
        case_id=c.case_id,
        estate_name=c.estate_name,
        stage=c.stage,
        working_group=[
            Member(name=m.name, affiliation=m.affiliation, user_id=m.user_id or None)
            for m in c.working_group
        ],
        situation=SituationIO(
            arrangement=c.situation.arrangement,
            notes=c.situation.notes,
            surveyed_households=c.situation.surveyed_households,
            accepting_households=c.situation.accepting_households,
            needs=c.situation.needs,
        ),
        baseline=BaselineIO(
            payment_rate_permille=_known(c.baseline.payment_rate_permille),
            open_disputes=_known(c.baseline.open_disputes),
            satisfaction_permille=_known(c.baseline.satisfaction_permille),
        ),
        opened_at=iso(c.opened_at),
        tender_id=c.tender_id or None,
        chosen_company_id=c.chosen_company_id or None,
        trust_model_ballot_id=c.trust_model_ballot_id or None,
        company_ballot_id=c.company_ballot_id or None,
        contract_id=c.contract_id or None,
        approving_body=c.approving_body or None,
    )


@router.post(
    "/onboarding",
    response_model=CaseOut,
    status_code=201,
    summary="Open the estate's onboarding case (the community: its party organisation or "
    "residents' committee)",
)
async def open_case(
    estate_id: EstateId, body: CaseIn, who: Authed, svc: Svc, idempotency_key: IdempotencyKey = None
) -> CaseOut:
    return _case(
        await svc.onboarding.OpenCase(
            onboarding_pb2.OpenCaseRequest(
                idempotency_key=idempotency_key or "",
                estate_id=estate_id,
                working_group=_members(body.working_group),
                situation=_situation(body.situation),
                baseline=_baseline(body.baseline),
            ),
            metadata=who.metadata,
        )
    )


@router.patch(
    "/onboarding",
    response_model=CaseOut,
    summary="Update the working group, the situation or the baseline",
)
async def update_case(estate_id: EstateId, body: CasePatch, who: Authed, svc: Svc) -> CaseOut:
    request = onboarding_pb2.UpdateCaseRequest(estate_id=estate_id)
    if body.working_group:
        request.working_group.extend(_members(body.working_group))
    if body.situation:
        request.situation.CopyFrom(_situation(body.situation))
    if body.baseline:
        request.baseline.CopyFrom(_baseline(body.baseline))
    return _case(await svc.onboarding.UpdateCase(request, metadata=who.metadata))


@router.get(
    "/onboarding",
    response_model=CaseOut,
    summary="The estate's onboarding case and its stage (everyone in the estate)",
)
async def get_case(estate_id: EstateId, who: Authed, svc: Svc) -> CaseOut:
    return _case(
        await svc.onboarding.GetCase(
            onboarding_pb2.GetCaseRequest(estate_id=estate_id), metadata=who.metadata
        )
    )


class StageOut(BaseModel):
    estate_id: str
    estate_name: str
    community_id: str | None
    stage: Stage
    company_id: str | None = Field(description="The company serving it today")
    company_name: str | None
    contract_ends_on: str | None


@stages.get(
    "/stages",
    response_model=list[StageOut],
    summary="Every estate the caller oversees with its stage (a community's supervisors; all "
    "for the operator)",
)
async def list_stages(
    who: Authed,
    svc: Svc,
    community_id: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
) -> list[StageOut]:
    reply = await svc.onboarding.ListStages(
        onboarding_pb2.ListStagesRequest(community_id=community_id or ""), metadata=who.metadata
    )
    return [
        StageOut(
            estate_id=e.estate_id,
            estate_name=e.estate_name,
            community_id=e.community_id or None,
            stage=e.stage,
            company_id=e.company_id or None,
            company_name=e.company_name or None,
            contract_ends_on=e.contract_ends_on or None,
        )
        for e in reply.estates
    ]


class FeeRateIO(BaseModel):
    unit_type: Literal["residential", "commercial", "parking", "other"]
    fen_per_m2_month: str = Field(pattern=r"^\d{1,6}(\.\d{1,4})?$", description="e.g. 250")


class ThresholdIO(BaseModel):
    up_to_fen: int | None = Field(
        ge=1, le=10**13, description="null: no upper bound (the last one)"
    )
    approvals: int = Field(ge=1, le=9)


Source = Literal["property_fee", "parking", "advertising", "venue", "other"]


class TermsIO(BaseModel):
    service_standard: str = Field(min_length=1, max_length=8000)
    scope: str = Field(min_length=1, max_length=8000)
    fee_rates: list[FeeRateIO] = Field(min_length=1, max_length=4)
    remuneration_ratio: str | None = Field(
        default=None, pattern=r"^\d{1,4}/\d{1,5}$", description="e.g. 1/10"
    )
    remuneration_fixed_monthly_fen: int | None = Field(default=None, ge=1, le=10**13)
    remuneration_sources: list[Source] = Field(min_length=1, max_length=5)
    starts_on: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    ends_on: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    dismissal_notice_days: int = Field(default=60, ge=60, le=365)
    non_renewal_notice_days: int = Field(default=90, ge=90, le=365)
    bank_account_number: str = Field(min_length=6, max_length=64)
    bank_name: str = Field(min_length=1, max_length=100)
    bank_account_holder: str = Field(min_length=1, max_length=100)
    approval_thresholds: list[ThresholdIO] = Field(min_length=1, max_length=5)
    supervisors: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=20
    )


class SignatureOut(BaseModel):
    party: Literal["company", "approving_body"]
    user_id: str
    key_id: str
    signature: str
    signed_at: str | None


class ContractOut(BaseModel):
    estate_id: str
    contract_id: str
    company_id: str
    company_name: str
    settlor: str
    terms: TermsIO
    state: Literal["awaiting_signatures", "signed", "in_force", "ended"]
    payload_json: str = Field(description="What each party signs, byte for byte")
    signatures: list[SignatureOut]
    company_ballot_id: str | None
    drafted_at: str | None
    ended_on: str | None


def _terms_pb(t: TermsIO) -> onboarding_pb2.ContractTerms:
    return onboarding_pb2.ContractTerms(
        service_standard=t.service_standard,
        scope=t.scope,
        fee_rates=[onboarding_pb2.FeeRate(**r.model_dump()) for r in t.fee_rates],
        remuneration_ratio=t.remuneration_ratio or "",
        remuneration_fixed_monthly_fen=t.remuneration_fixed_monthly_fen or 0,
        remuneration_sources=t.remuneration_sources,
        starts_on=t.starts_on,
        ends_on=t.ends_on,
        dismissal_notice_days=t.dismissal_notice_days,
        non_renewal_notice_days=t.non_renewal_notice_days,
        bank_account_number=t.bank_account_number,
        bank_name=t.bank_name,
        bank_account_holder=t.bank_account_holder,
        approval_thresholds=[
            onboarding_pb2.ApprovalThreshold(up_to_fen=x.up_to_fen or 0, approvals=x.approvals)
            for x in t.approval_thresholds
        ],
        supervisors=t.supervisors,
    )


def _contract(c: onboarding_pb2.TrustContract) -> ContractOut:
    t = c.terms
    return ContractOut(
        estate_id=c.estate_id,
        contract_id=c.contract_id,
        company_id=c.company_id,
        company_name=c.company_name,
        settlor=c.settlor,
        terms=TermsIO(
            service_standard=t.service_standard,
            scope=t.scope,
            fee_rates=[
                FeeRateIO(unit_type=r.unit_type, fen_per_m2_month=r.fen_per_m2_month)
                for r in t.fee_rates
            ],
            remuneration_ratio=t.remuneration_ratio or None,
            remuneration_fixed_monthly_fen=t.remuneration_fixed_monthly_fen or None,
            remuneration_sources=list(t.remuneration_sources),
            starts_on=t.starts_on,
            ends_on=t.ends_on,
            dismissal_notice_days=t.dismissal_notice_days,
            non_renewal_notice_days=t.non_renewal_notice_days,
            bank_account_number=t.bank_account_number,
            bank_name=t.bank_name,
            bank_account_holder=t.bank_account_holder,
            approval_thresholds=[
                ThresholdIO(up_to_fen=x.up_to_fen or None, approvals=x.approvals)
                for x in t.approval_thresholds
            ],
            supervisors=list(t.supervisors),
        ),
        state=c.state,
        payload_json=c.payload_json,
        signatures=[
            SignatureOut(
                party=s.party,
                user_id=s.user_id,
                key_id=s.key_id,
                signature=s.signature,
                signed_at=iso(s.signed_at),
            )
            for s in c.signatures
        ],
        company_ballot_id=c.company_ballot_id or None,
        drafted_at=iso(c.drafted_at),
        ended_on=c.ended_on or None,
    )


@router.post(
    "/trust-contracts",
    response_model=ContractOut,
    status_code=201,
    summary="Draft the trust contract with the company the assembly chose (the approving body)",
)
async def draft_contract(
    estate_id: EstateId,
    body: TermsIO,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> ContractOut:
    return _contract(
        await svc.onboarding.DraftContract(
            onboarding_pb2.DraftContractRequest(
                idempotency_key=idempotency_key or "",
                estate_id=estate_id,
                terms=_terms_pb(body),
            ),
            metadata=who.metadata,
        )
    )


@router.get("/trust-contracts", response_model=list[ContractOut], summary="The estate's contracts")
async def list_contracts(estate_id: EstateId, who: Authed, svc: Svc) -> list[ContractOut]:
    reply = await svc.onboarding.ListContracts(
        onboarding_pb2.ListContractsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [_contract(c) for c in reply.contracts]


@router.get("/trust-contracts/{contract_id}", response_model=ContractOut, summary="A contract")
async def get_contract(
    estate_id: EstateId, contract_id: ContractId, who: Authed, svc: Svc
) -> ContractOut:
    return _contract(
        await svc.onboarding.GetContract(
            onboarding_pb2.GetContractRequest(estate_id=estate_id, contract_id=contract_id),
            metadata=who.metadata,
        )
    )


class SignIn(BaseModel):
    key_id: str = Field(min_length=1, max_length=64)
    signature: str = Field(
        min_length=1,
        max_length=200,
        description="base64url of the signature over payload_json (P-256: r || s; or Ed25519)",
    )


@router.post(
    "/trust-contracts/{contract_id}/signatures",
    response_model=ContractOut,
    status_code=201,
    summary="Sign the contract with a key on your own device (the company's manager; a member "
    "of the approving body); once both have signed it takes effect",
)
async def sign_contract(
    estate_id: EstateId, contract_id: ContractId, body: SignIn, who: Authed, svc: Svc
) -> ContractOut:
    return _contract(
        await svc.onboarding.SignContract(
            onboarding_pb2.SignContractRequest(
                estate_id=estate_id,
                contract_id=contract_id,
                key_id=body.key_id,
                signature=body.signature,
            ),
            metadata=who.metadata,
        )
    )


class ItemIO(BaseModel):
    item: Literal["balances", "arrears", "vouchers", "keys", "documents"]
    state: Literal["pending", "done", "refused"]
    note: str = Field(default="", max_length=500)


class HandoverOut(BaseModel):
    estate_id: str
    handover_id: str
    outgoing_contract_id: str
    outgoing_company_id: str
    reason: Literal["dismissal", "non_renewal"]
    decided_on: str
    notice_ends_on: str = Field(description="The earliest day of the handover")
    checklist: list[ItemIO]
    state: Literal["open", "completed"]
    handed_over_on: str | None
    incoming_contract_id: str | None
    refused_from: str | None = Field(
        description="From this day the outgoing company refused to hand over: it earns no "
        "remuneration until the handover (Civil Code art. 949)"
    )
    ballot_id: str | None


def _handover(h: onboarding_pb2.Handover) -> HandoverOut:
    return HandoverOut(
        estate_id=h.estate_id,
        handover_id=h.handover_id,
        outgoing_contract_id=h.outgoing_contract_id,
        outgoing_company_id=h.outgoing_company_id,
        reason=h.reason,
        decided_on=h.decided_on,
        notice_ends_on=h.notice_ends_on,
        checklist=[ItemIO(item=i.item, state=i.state, note=i.note) for i in h.checklist],
        state=h.state,
        handed_over_on=h.handed_over_on or None,
        incoming_contract_id=h.incoming_contract_id or None,
        refused_from=h.refused_from or None,
        ballot_id=h.ballot_id or None,
    )


@router.post(
    "/trust-contracts/{contract_id}/notice",
    response_model=HandoverOut,
    status_code=201,
    summary="The company will not renew: notice at least 90 days before the term ends (its "
    "manager); the handover opens",
)
async def give_notice(
    estate_id: EstateId, contract_id: ContractId, who: Authed, svc: Svc
) -> HandoverOut:
    return _handover(
        await svc.onboarding.GiveNotice(
            onboarding_pb2.GiveNoticeRequest(estate_id=estate_id, contract_id=contract_id),
            metadata=who.metadata,
        )
    )


@router.get("/handovers", response_model=list[HandoverOut], summary="The estate's handovers")
async def list_handovers(estate_id: EstateId, who: Authed, svc: Svc) -> list[HandoverOut]:
    reply = await svc.onboarding.ListHandovers(
        onboarding_pb2.ListHandoversRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [_handover(h) for h in reply.handovers]


class ChecklistIn(BaseModel):
    items: list[ItemIO] = Field(min_length=1, max_length=5)


@router.patch(
    "/handovers/{handover_id}",
    response_model=HandoverOut,
    summary="Tick items of the handover checklist, or mark one refused (the approving body)",
)
async def update_handover(
    estate_id: EstateId, handover_id: HandoverId, body: ChecklistIn, who: Authed, svc: Svc
) -> HandoverOut:
    return _handover(
        await svc.onboarding.UpdateHandover(
            onboarding_pb2.UpdateHandoverRequest(
                estate_id=estate_id,
                handover_id=handover_id,
                items=[onboarding_pb2.HandoverItem(**i.model_dump()) for i in body.items],
            ),
            metadata=who.metadata,
        )
    )


class CompletionIn(BaseModel):
    handed_over_on: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")


@router.post(
    "/handovers/{handover_id}/completion",
    response_model=HandoverOut,
    summary="The handover took place: the outgoing company's access ends and the incoming "
    "one's begins that day (the approving body)",
)
async def complete_handover(
    estate_id: EstateId, handover_id: HandoverId, body: CompletionIn, who: Authed, svc: Svc
) -> HandoverOut:
    return _handover(
        await svc.onboarding.CompleteHandover(
            onboarding_pb2.CompleteHandoverRequest(
                estate_id=estate_id,
                handover_id=handover_id,
                handed_over_on=body.handed_over_on or "",
            ),
            metadata=who.metadata,
        )
    )
