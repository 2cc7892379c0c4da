"""REST routes of merged courtyards: the group an estate is managed with, and the costs its
members share, split by area into a payment request of each estate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from xinyi.ledger.v1 import groups_pb2
from xinyi_gateway.deps import Authed, EstateId, IdempotencyKey, Svc
from xinyi_gateway.routes_ledger import DisbursementOut, Fen, _disbursement

router = APIRouter(prefix="/api/v1/estates/{estate_id}", tags=["ledger"])


class MemberOut(BaseModel):
    estate_id: str
    area_centi_m2: int = Field(description="Exclusive area of its units, m² × 100")


class GroupOut(BaseModel):
    group_id: str
    name: str
    members: list[MemberOut]


@router.get(
    "/management-group",
    response_model=GroupOut,
    summary="The estates this one is managed with (merged courtyards) and their areas",
)
async def get_group(estate_id: EstateId, who: Authed, svc: Svc) -> GroupOut:
    g = await svc.groups.GetGroup(
        groups_pb2.GetGroupRequest(estate_id=estate_id), metadata=who.metadata
    )
    return GroupOut(
        group_id=g.group_id,
        name=g.name,
        members=[
            MemberOut(estate_id=m.estate_id, area_centi_m2=m.area_centi_m2) for m in g.members
        ],
    )


class SharedCostIn(BaseModel):
    amount_fen: Fen
    payee: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=1500)
    expense_code: str = Field(pattern=r"^5\d{3}$", description="An expense account (5xxx)")
    voucher_sha256: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list, max_length=50
    )


class ShareOut(BaseModel):
    estate_id: str
    area_centi_m2: int
    amount_fen: int
    disbursement: DisbursementOut | None


class SharedCostOut(BaseModel):
    cost_id: str
    group_id: str
    amount_fen: int
    payee: str
    purpose: str
    group_area_centi_m2: int
    shares: list[ShareOut] = Field(description="Each estate's share (listing: this estate's)")


def _cost(c: groups_pb2.SharedCost) -> SharedCostOut:
    return SharedCostOut(
        cost_id=c.cost_id,
        group_id=c.group_id,
        amount_fen=c.amount_fen,
        payee=c.payee,
        purpose=c.purpose,
        group_area_centi_m2=c.group_area_centi_m2,
        shares=[
            ShareOut(
                estate_id=s.estate_id,
                area_centi_m2=s.area_centi_m2,
                amount_fen=s.amount_fen,
                disbursement=_disbursement(s.disbursement) if s.HasField("disbursement") else None,
            )
            for s in c.shares
        ],
    )


@router.post(
    "/shared-costs",
    response_model=SharedCostOut,
    status_code=201,
    summary="Split a cost the group's estates share by area: one payment request per estate, "
    "each approved by that estate's own approving body (the company serving them all)",
)
async def request_shared_cost(
    estate_id: EstateId,
    body: SharedCostIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> SharedCostOut:
    return _cost(
        await svc.groups.RequestSharedCost(
            groups_pb2.RequestSharedCostRequest(
                idempotency_key=idempotency_key or "",
                estate_id=estate_id,
                amount_fen=body.amount_fen,
                payee=body.payee,
                purpose=body.purpose,
                expense_code=body.expense_code,
                voucher_sha256=body.voucher_sha256,
            ),
            metadata=who.metadata,
        )
    )


@router.get(
    "/shared-costs",
    response_model=list[SharedCostOut],
    summary="The shared costs this estate took part in, with its own share",
)
async def list_shared_costs(estate_id: EstateId, who: Authed, svc: Svc) -> list[SharedCostOut]:
    reply = await svc.groups.ListSharedCosts(
        groups_pb2.ListSharedCostsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [_cost(c) for c in reply.costs]
