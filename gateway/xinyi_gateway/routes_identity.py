"""REST routes of identity: signing in, the caller, the city, estates, roles, units and owners."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from xinyi.common.v1 import common_pb2, common_pb2_grpc
from xinyi.identity.v1 import identity_pb2
from xinyi_gateway import problems, refusals
from xinyi_gateway.deps import UUID_PATTERN, Authed, EstateId, IdempotencyKey, Svc, client_ip, iso
from xinyi_gateway.ratelimit import login_limiter

router = APIRouter(prefix="/api/v1")

Uuid = Annotated[str, Field(pattern=UUID_PATTERN)]


# -- signing in --------------------------------------------------------------------------------
class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=100, description="Username or phone number")
    password: str = Field(min_length=1, max_length=200)
    totp: str | None = Field(default=None, max_length=10, description="Code, once enrolled")


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


def _tokens(reply: identity_pb2.LoginResponse) -> TokenResponse:
    return TokenResponse(
        access_token=reply.access_token,
        refresh_token=reply.refresh_token,
        token_type=reply.token_type,
        expires_in=reply.expires_in_seconds,
    )


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    tags=["auth"],
    summary="Sign in with username (or phone) and password, and a TOTP code once enrolled",
)
async def token(body: TokenRequest, request: Request, svc: Svc) -> Any:
    ip = client_ip(request)
    wait = login_limiter(request.app).hit(ip)
    if wait:
        return problems.problem(
            429,
            f"too many sign-in attempts from here; wait {wait} s",
            headers={"Retry-After": str(wait)},
            code="rate_limited",
        )
    reply = await svc.identity.Login(
        identity_pb2.LoginRequest(
            username=body.username,
            password=body.password,
            totp=body.totp or "",
            client_ip=ip,
            user_agent=request.headers.get("user-agent", "")[:500],
        )
    )
    return _tokens(reply)


@router.post(
    "/auth/refresh",
    response_model=TokenResponse,
    tags=["auth"],
    summary="New tokens for a refresh token (which is then spent)",
)
async def refresh(body: RefreshIn, svc: Svc) -> TokenResponse:
    return _tokens(
        await svc.identity.Refresh(identity_pb2.RefreshRequest(refresh_token=body.refresh_token))
    )


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["auth"],
    summary="Revoke a refresh token",
)
async def logout(body: RefreshIn, svc: Svc) -> Response:
    await svc.identity.Logout(identity_pb2.LogoutRequest(refresh_token=body.refresh_token))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/signing-keys/rotate",
    tags=["auth"],
    summary="Start signing tokens with a new key (operator)",
)
async def rotate(who: Authed, svc: Svc) -> dict[str, Any]:
    reply = await svc.identity.RotateSigningKey(
        identity_pb2.RotateSigningKeyRequest(), metadata=who.metadata
    )
    return {"new_key_id": reply.new_key_id, "published_key_ids": list(reply.published_key_ids)}


# -- me ----------------------------------------------------------------------------------------
class RoleGrantOut(BaseModel):
    grant_id: str
    user_id: str
    role: str
    estate_id: str | None
    community_id: str | None
    company_id: str | None
    granted_at: str | None


class UserOut(BaseModel):
    user_id: str
    username: str
    display_name: str
    phone: str | None
    totp_enrolled: bool
    roles: list[RoleGrantOut]


def _grant(g: identity_pb2.RoleGrant) -> RoleGrantOut:
    return RoleGrantOut(
        grant_id=g.grant_id,
        user_id=g.user_id,
        role=g.role,
        estate_id=g.estate_id or None,
        community_id=g.community_id or None,
        company_id=g.company_id or None,
        granted_at=iso(g.granted_at),
    )


def _user(u: identity_pb2.User) -> UserOut:
    return UserOut(
        user_id=u.user_id,
        username=u.username,
        display_name=u.display_name,
        phone=u.phone or None,
        totp_enrolled=u.totp_enrolled,
        roles=[_grant(g) for g in u.roles],
    )


@router.get("/me", response_model=UserOut, tags=["me"], summary="The signed-in user and roles")
async def me(who: Authed, svc: Svc) -> UserOut:
    reply = await svc.identity.GetMe(identity_pb2.GetMeRequest(), metadata=who.metadata)
    return _user(reply.user)


class TotpStart(BaseModel):
    secret: str
    otpauth_uri: str


class TotpConfirm(BaseModel):
    code: str = Field(min_length=6, max_length=10)


@router.post(
    "/me/totp",
    response_model=TotpStart,
    tags=["me"],
    summary="Start enrolling a TOTP second factor (scan the URI as a QR code)",
)
async def totp_start(who: Authed, svc: Svc) -> TotpStart:
    reply = await svc.identity.BeginTotpEnrolment(
        identity_pb2.BeginTotpEnrolmentRequest(), metadata=who.metadata
    )
    return TotpStart(secret=reply.secret, otpauth_uri=reply.otpauth_uri)


@router.post(
    "/me/totp/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["me"],
    summary="Finish enrolling with a code from the authenticator app",
)
async def totp_confirm(body: TotpConfirm, who: Authed, svc: Svc) -> Response:
    await svc.identity.ConfirmTotpEnrolment(
        identity_pb2.ConfirmTotpEnrolmentRequest(code=body.code), metadata=who.metadata
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class DeviceKeyIn(BaseModel):
    public_jwk: dict[str, Any] = Field(description="The public key as a JWK (EC P-256 or Ed25519)")
    label: str = Field(default="device", min_length=1, max_length=100)


class DeviceKeyOut(BaseModel):
    key_id: str
    user_id: str
    label: str
    public_jwk: str
    created_at: str | None
    revoked_at: str | None


class DeviceKeys(BaseModel):
    keys: list[DeviceKeyOut]


def _device_key(k: identity_pb2.DeviceKey) -> DeviceKeyOut:
    return DeviceKeyOut(
        key_id=k.key_id,
        user_id=k.user_id,
        label=k.label,
        public_jwk=k.public_jwk,
        created_at=iso(k.created_at),
        revoked_at=iso(k.revoked_at),
    )


@router.post(
    "/me/device-keys",
    response_model=DeviceKeyOut,
    status_code=201,
    tags=["me"],
    summary="Register a public signing key made on this device",
)
async def add_device_key(body: DeviceKeyIn, who: Authed, svc: Svc) -> DeviceKeyOut:
    reply = await svc.identity.RegisterDeviceKey(
        identity_pb2.RegisterDeviceKeyRequest(
            public_jwk=json.dumps(body.public_jwk), label=body.label
        ),
        metadata=who.metadata,
    )
    return _device_key(reply)


@router.get("/me/device-keys", response_model=DeviceKeys, tags=["me"], summary="My device keys")
async def my_device_keys(who: Authed, svc: Svc) -> DeviceKeys:
    reply = await svc.identity.ListDeviceKeys(
        identity_pb2.ListDeviceKeysRequest(), metadata=who.metadata
    )
    return DeviceKeys(keys=[_device_key(k) for k in reply.keys])


@router.delete(
    "/me/device-keys/{key_id}",
    response_model=DeviceKeyOut,
    tags=["me"],
    summary="Revoke one of my device keys",
)
async def revoke_device_key(
    key_id: Annotated[str, Field(max_length=64)], who: Authed, svc: Svc
) -> DeviceKeyOut:
    reply = await svc.identity.RevokeDeviceKey(
        identity_pb2.RevokeDeviceKeyRequest(key_id=key_id), metadata=who.metadata
    )
    return _device_key(reply)


@router.get(
    "/users/{user_id}/device-keys",
    response_model=DeviceKeys,
    tags=["me"],
    summary="A user's public device keys (to verify their signatures)",
)
async def user_device_keys(
    user_id: Annotated[str, Field(pattern=UUID_PATTERN)], who: Authed, svc: Svc
) -> DeviceKeys:
    reply = await svc.identity.ListDeviceKeys(
        identity_pb2.ListDeviceKeysRequest(user_id=user_id), metadata=who.metadata
    )
    return DeviceKeys(keys=[_device_key(k) for k in reply.keys])


# -- the city ----------------------------------------------------------------------------------
class NameIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class StreetIn(NameIn):
    district_id: Uuid


class CommunityIn(NameIn):
    street_id: Uuid


class CommunityOut(BaseModel):
    community_id: str
    street_id: str
    district_id: str
    name: str
    street_name: str
    district_name: str


class Communities(BaseModel):
    communities: list[CommunityOut]


@router.post("/districts", status_code=201, tags=["city"], summary="Add a district (operator)")
async def create_district(
    body: NameIn, who: Authed, svc: Svc, idempotency_key: IdempotencyKey = None
) -> dict[str, str]:
    r = await svc.identity.CreateDistrict(
        identity_pb2.CreateDistrictRequest(idempotency_key=idempotency_key or "", name=body.name),
        metadata=who.metadata,
    )
    return {"district_id": r.district_id, "name": r.name}


@router.post("/streets", status_code=201, tags=["city"], summary="Add a street (operator)")
async def create_street(
    body: StreetIn, who: Authed, svc: Svc, idempotency_key: IdempotencyKey = None
) -> dict[str, str]:
    r = await svc.identity.CreateStreet(
        identity_pb2.CreateStreetRequest(
            idempotency_key=idempotency_key or "", district_id=body.district_id, name=body.name
        ),
        metadata=who.metadata,
    )
    return {"street_id": r.street_id, "district_id": r.district_id, "name": r.name}


def _community(c: identity_pb2.Community) -> CommunityOut:
    return CommunityOut(
        community_id=c.community_id,
        street_id=c.street_id,
        name=c.name,
        street_name=c.street_name,
        district_id=c.district_id,
        district_name=c.district_name,
    )


@router.post(
    "/communities",
    response_model=CommunityOut,
    status_code=201,
    tags=["city"],
    summary="Add a community (operator)",
)
async def create_community(
    body: CommunityIn, who: Authed, svc: Svc, idempotency_key: IdempotencyKey = None
) -> CommunityOut:
    r = await svc.identity.CreateCommunity(
        identity_pb2.CreateCommunityRequest(
            idempotency_key=idempotency_key or "", street_id=body.street_id, name=body.name
        ),
        metadata=who.metadata,
    )
    return _community(r)


@router.get(
    "/communities",
    response_model=Communities,
    tags=["city"],
    summary="Every community, with its street and district",
)
async def list_communities(who: Authed, svc: Svc) -> Communities:
    r = await svc.identity.ListCommunities(
        identity_pb2.ListCommunitiesRequest(), metadata=who.metadata
    )
    return Communities(communities=[_community(c) for c in r.communities])


class CompanyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    credit_code: str = Field(min_length=18, max_length=18, description="统一社会信用代码")


class CompanyOut(BaseModel):
    company_id: str
    name: str
    credit_code: str
    created_at: str | None


class Companies(BaseModel):
    companies: list[CompanyOut]


def _company(c: identity_pb2.Company) -> CompanyOut:
    return CompanyOut(
        company_id=c.company_id,
        name=c.name,
        credit_code=c.credit_code,
        created_at=iso(c.created_at),
    )


@router.post(
    "/companies",
    response_model=CompanyOut,
    status_code=201,
    tags=["city"],
    summary="Onboard a property company (operator)",
)
async def create_company(
    body: CompanyIn, who: Authed, svc: Svc, idempotency_key: IdempotencyKey = None
) -> CompanyOut:
    r = await svc.identity.CreateCompany(
        identity_pb2.CreateCompanyRequest(
            idempotency_key=idempotency_key or "", name=body.name, credit_code=body.credit_code
        ),
        metadata=who.metadata,
    )
    return _company(r)


@router.get("/companies", response_model=Companies, tags=["city"], summary="Companies")
async def list_companies(who: Authed, svc: Svc) -> Companies:
    r = await svc.identity.ListCompanies(identity_pb2.ListCompaniesRequest(), metadata=who.metadata)
    return Companies(companies=[_company(c) for c in r.companies])


class UserIn(BaseModel):
    username: str = Field(min_length=3, max_length=50)
    display_name: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=20)
    password: str = Field(min_length=10, max_length=200)


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    tags=["city"],
    summary="Create a user account (operator)",
)
async def create_user(
    body: UserIn, who: Authed, svc: Svc, idempotency_key: IdempotencyKey = None
) -> UserOut:
    r = await svc.identity.CreateUser(
        identity_pb2.CreateUserRequest(
            idempotency_key=idempotency_key or "",
            username=body.username,
            display_name=body.display_name,
            phone=body.phone,
            password=body.password,
        ),
        metadata=who.metadata,
    )
    return _user(r)


# -- estates -----------------------------------------------------------------------------------
class EstateIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["玉林小区"])
    community_id: Uuid | None = None
    address: str = Field(default="", max_length=500)


BodyKind = Literal["committee", "self_governance_group", "property_management_committee"]
KIND_PB = {
    "committee": identity_pb2.APPROVING_BODY_KIND_COMMITTEE,
    "self_governance_group": identity_pb2.APPROVING_BODY_KIND_SELF_GOVERNANCE_GROUP,
    "property_management_committee": identity_pb2.APPROVING_BODY_KIND_PROPERTY_MANAGEMENT_COMMITTEE,
}
KIND_NAME = {v: k for k, v in KIND_PB.items()}


class ApprovingBodyIO(BaseModel):
    kind: BodyKind
    name: str = Field(min_length=1, max_length=200)
    formed_on: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")


class EstateOut(BaseModel):
    estate_id: str
    name: str
    community_id: str | None
    address: str
    created_at: str | None
    company_id: str | None
    approving_body: ApprovingBodyIO | None
    management_group_id: str | None
    unit_count: int


class EstatePage(BaseModel):
    estates: list[EstateOut]
    next_cursor: str | None


def _estate(e: identity_pb2.Estate) -> EstateOut:
    body = e.approving_body
    return EstateOut(
        estate_id=e.estate_id,
        name=e.name,
        community_id=e.community_id or None,
        address=e.address,
        created_at=iso(e.created_at),
        company_id=e.company_id or None,
        approving_body=ApprovingBodyIO(
            kind=KIND_NAME[body.kind],
            name=body.name,
            formed_on=body.formed_on or None,
        )
        if body.kind in KIND_NAME
        else None,
        management_group_id=e.management_group_id or None,
        unit_count=e.unit_count,
    )


@router.post(
    "/estates",
    response_model=EstateOut,
    status_code=201,
    tags=["estates"],
    summary="Register an estate (operator)",
)
async def create_estate(
    body: EstateIn, who: Authed, svc: Svc, idempotency_key: IdempotencyKey = None
) -> EstateOut:
    reply = await svc.identity.CreateEstate(
        identity_pb2.CreateEstateRequest(
            idempotency_key=idempotency_key or "",
            name=body.name,
            community_id=body.community_id or "",
            address=body.address,
        ),
        metadata=who.metadata,
    )
    return _estate(reply.estate)


@router.get(
    "/estates",
    response_model=EstatePage,
    tags=["estates"],
    summary="Estates: every one for the operator, one's own for everyone else",
)
async def list_estates(
    who: Authed,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    community_id: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
) -> EstatePage:
    reply = await svc.identity.ListEstates(
        identity_pb2.ListEstatesRequest(
            page_size=limit, page_token=cursor or "", community_id=community_id or ""
        ),
        metadata=who.metadata,
    )
    return EstatePage(
        estates=[_estate(e) for e in reply.estates], next_cursor=reply.next_page_token or None
    )


@router.get(
    "/estates/{estate_id}", response_model=EstateOut, tags=["estates"], summary="One estate"
)
async def get_estate(estate_id: EstateId, who: Authed, svc: Svc) -> EstateOut:
    reply = await svc.identity.GetEstate(
        identity_pb2.GetEstateRequest(estate_id=estate_id), metadata=who.metadata
    )
    return _estate(reply.estate)


class AssignmentIn(BaseModel):
    company_id: Uuid
    starts_on: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    ends_on: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")


class AssignmentOut(BaseModel):
    estate_id: str
    company_id: str
    starts_on: str
    ends_on: str | None


@router.put(
    "/estates/{estate_id}/company",
    response_model=AssignmentOut,
    tags=["estates"],
    summary="Which company serves the estate, from when (operator)",
)
async def assign_company(
    estate_id: EstateId,
    body: AssignmentIn,
    who: Authed,
    svc: Svc,
    idempotency_key: IdempotencyKey = None,
) -> AssignmentOut:
    r = await svc.identity.AssignCompany(
        identity_pb2.AssignCompanyRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            company_id=body.company_id,
            starts_on=body.starts_on,
            ends_on=body.ends_on or "",
        ),
        metadata=who.metadata,
    )
    return AssignmentOut(
        estate_id=r.estate_id,
        company_id=r.company_id,
        starts_on=r.starts_on,
        ends_on=r.ends_on or None,
    )


@router.put(
    "/estates/{estate_id}/approving-body",
    response_model=ApprovingBodyIO,
    tags=["estates"],
    summary="The estate's committee or self-governance group",
)
async def set_approving_body(
    estate_id: EstateId, body: ApprovingBodyIO, who: Authed, svc: Svc
) -> ApprovingBodyIO:
    r = await svc.identity.SetApprovingBody(
        identity_pb2.SetApprovingBodyRequest(
            estate_id=estate_id,
            kind=KIND_PB[body.kind],
            name=body.name,
            formed_on=body.formed_on or "",
        ),
        metadata=who.metadata,
    )
    return ApprovingBodyIO(
        kind=KIND_NAME[r.kind],
        name=r.name,
        formed_on=r.formed_on or None,
    )


class GroupIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    estate_ids: list[Uuid] = Field(min_length=2, max_length=50)


@router.post(
    "/management-groups",
    status_code=201,
    tags=["estates"],
    summary="Manage several estates as one (拆墙并院); each keeps its owners and votes",
)
async def merge_estates(
    body: GroupIn, who: Authed, svc: Svc, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    r = await svc.identity.MergeEstates(
        identity_pb2.MergeEstatesRequest(
            idempotency_key=idempotency_key or "", name=body.name, estate_ids=body.estate_ids
        ),
        metadata=who.metadata,
    )
    return {"group_id": r.group_id, "name": r.name, "estate_ids": list(r.estate_ids)}


# -- roles -------------------------------------------------------------------------------------
class GrantIn(BaseModel):
    user_id: Uuid
    role: str = Field(min_length=1, max_length=50)
    estate_id: Uuid | None = None
    community_id: Uuid | None = None
    company_id: Uuid | None = None


@router.post(
    "/role-grants",
    response_model=RoleGrantOut,
    status_code=201,
    tags=["roles"],
    summary="Grant a role (operator; a company's manager for residents and staff)",
)
async def grant_role(
    body: GrantIn, who: Authed, svc: Svc, idempotency_key: IdempotencyKey = None
) -> RoleGrantOut:
    r = await svc.identity.GrantRole(
        identity_pb2.GrantRoleRequest(
            idempotency_key=idempotency_key or "",
            user_id=body.user_id,
            role=body.role,
            estate_id=body.estate_id or "",
            community_id=body.community_id or "",
            company_id=body.company_id or "",
        ),
        metadata=who.metadata,
    )
    return _grant(r)


@router.delete(
    "/role-grants/{grant_id}",
    response_model=RoleGrantOut,
    tags=["roles"],
    summary="Revoke a role grant",
)
async def revoke_role(
    grant_id: Annotated[str, Field(pattern=UUID_PATTERN)], who: Authed, svc: Svc
) -> RoleGrantOut:
    r = await svc.identity.RevokeRole(
        identity_pb2.RevokeRoleRequest(grant_id=grant_id), metadata=who.metadata
    )
    return _grant(r)


@router.get(
    "/estates/{estate_id}/role-grants",
    response_model=list[RoleGrantOut],
    tags=["roles"],
    summary="Who holds which role in the estate",
)
async def estate_grants(estate_id: EstateId, who: Authed, svc: Svc) -> list[RoleGrantOut]:
    r = await svc.identity.ListRoleGrants(
        identity_pb2.ListRoleGrantsRequest(estate_id=estate_id), metadata=who.metadata
    )
    return [_grant(g) for g in r.grants]


# -- units and owners --------------------------------------------------------------------------
class ImportChangesOut(BaseModel):
    buildings_added: int
    units_added: int
    units_changed: int
    owners_added: int
    owners_changed: int
    transfers: int
    units_unchanged: int
    details: list[str]


class ImportOut(BaseModel):
    applied: bool
    changes: ImportChangesOut
    problems: list[dict[str, Any]]


@router.post(
    "/estates/{estate_id}/imports",
    response_model=ImportOut,
    tags=["units"],
    summary="Import buildings, units and owners from a CSV file (validated whole)",
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
    responses={422: {"description": "The file has problems; nothing was imported"}},
)
async def import_estate(
    estate_id: EstateId,
    request: Request,
    who: Authed,
    svc: Svc,
    dry_run: bool = False,
    effective_on: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")] = None,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    data = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("text/csv", "application/csv", "text/plain", "application/octet-stream"):
        return problems.problem(415, "send the CSV file as the request body, Content-Type text/csv")
    reply = await svc.identity.ImportEstate(
        identity_pb2.ImportEstateRequest(
            idempotency_key=idempotency_key or "",
            estate_id=estate_id,
            csv=data,
            dry_run=dry_run,
            effective_on=effective_on or "",
        ),
        metadata=who.metadata,
        timeout=120,
    )
    if reply.problems:
        first = reply.problems[0]
        return problems.problem(
            422,
            f"the file has {len(reply.problems)} problem(s), nothing was imported; first, line "
            f"{first.line}: {first.message}",
            problems=[
                {"line": p.line, "column": p.column, "message": refusals.worded(p.message)}
                for p in reply.problems
            ],
        )
    c = reply.changes
    return ImportOut(
        applied=reply.applied,
        changes=ImportChangesOut(
            buildings_added=c.buildings_added,
            units_added=c.units_added,
            units_changed=c.units_changed,
            owners_added=c.owners_added,
            owners_changed=c.owners_changed,
            transfers=c.transfers,
            units_unchanged=c.units_unchanged,
            details=list(c.details),
        ),
        problems=[],
    )


class UnitOut(BaseModel):
    unit_id: str
    building: str
    number: str
    unit_type: str
    exclusive_area_m2: str
    exclusive_area_centi_m2: int
    owner_ids: list[str]


class UnitPage(BaseModel):
    units: list[UnitOut]
    next_cursor: str | None


def area_text(centi: int) -> str:
    return f"{centi // 100}.{centi % 100:02d}"


@router.get(
    "/estates/{estate_id}/units",
    response_model=UnitPage,
    tags=["units"],
    summary="The estate's units with their exclusive areas and current owners",
)
async def list_units(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> UnitPage:
    r = await svc.identity.ListUnits(
        identity_pb2.ListUnitsRequest(
            estate_id=estate_id, page_size=limit, page_token=cursor or ""
        ),
        metadata=who.metadata,
    )
    return UnitPage(
        units=[
            UnitOut(
                unit_id=u.unit_id,
                building=u.building,
                number=u.number,
                unit_type=u.unit_type,
                exclusive_area_m2=area_text(u.exclusive_area_centi_m2),
                exclusive_area_centi_m2=u.exclusive_area_centi_m2,
                owner_ids=list(u.owner_ids),
            )
            for u in r.units
        ],
        next_cursor=r.next_page_token or None,
    )


class OwnerOut(BaseModel):
    owner_id: str
    kind: str
    name: str | None
    phone: str | None
    id_number: str | None
    unit_ids: list[str]


class OwnerPage(BaseModel):
    owners: list[OwnerOut]
    next_cursor: str | None


@router.get(
    "/estates/{estate_id}/owners",
    response_model=OwnerPage,
    tags=["units"],
    summary="Owners; personal data only where the caller's duties need it",
)
async def list_owners(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> OwnerPage:
    r = await svc.identity.ListOwners(
        identity_pb2.ListOwnersRequest(
            estate_id=estate_id, page_size=limit, page_token=cursor or ""
        ),
        metadata=who.metadata,
    )
    return OwnerPage(
        owners=[
            OwnerOut(
                owner_id=o.owner_id,
                kind=o.kind,
                name=o.name or None,
                phone=o.phone or None,
                id_number=o.id_number or None,
                unit_ids=list(o.unit_ids),
            )
            for o in r.owners
        ],
        next_cursor=r.next_page_token or None,
    )


@router.get(
    "/estates/{estate_id}/ownership-roll",
    tags=["units"],
    summary="Units, areas and owners as of an instant",
)
async def ownership_roll(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    as_of: Annotated[str | None, Query(max_length=40, description="ISO 8601 instant")] = None,
) -> Any:
    request = identity_pb2.GetOwnershipRollRequest(estate_id=estate_id)
    if as_of:
        try:
            request.as_of.FromJsonString(
                as_of if as_of.endswith("Z") or "+" in as_of else as_of + "Z"
            )
        except ValueError:
            return problems.problem(400, "as_of must be an instant like 2026-01-31T00:00:00+08:00")
    r = await svc.identity.GetOwnershipRoll(request, metadata=who.metadata)
    return {
        "as_of": iso(r.as_of),
        "entries": [
            {
                "unit_id": e.unit_id,
                "building": e.building,
                "number": e.number,
                "exclusive_area_m2": area_text(e.exclusive_area_centi_m2),
                "owner_ids": list(e.owner_ids),
            }
            for e in r.entries
        ],
    }


# -- audit -------------------------------------------------------------------------------------
@router.get(
    "/estates/{estate_id}/audit",
    tags=["audit"],
    summary="Privileged actions in the estate, from every service, newest first",
)
async def estate_audit(
    estate_id: EstateId,
    who: Authed,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> JSONResponse:
    request = common_pb2.ListAuditEntriesRequest(estate_id=estate_id, page_size=limit)
    replies = await asyncio.gather(
        *(
            common_pb2_grpc.AuditServiceStub(ch).ListAuditEntries(request, metadata=who.metadata)
            for ch in svc.channels.values()
        )
    )
    entries = sorted(
        (e for r in replies for e in r.entries),
        key=lambda e: (e.at.seconds, e.at.nanos),
        reverse=True,
    )[:limit]
    return JSONResponse(
        {
            "entries": [
                {
                    "entry_id": e.entry_id,
                    "at": iso(e.at),
                    "service": e.service,
                    "actor_user_id": e.actor_user_id or None,
                    "actor_username": e.actor_username,
                    "action": e.action,
                    "target": e.target,
                    "detail": json.loads(e.detail_json or "{}"),
                    "client_ip": e.client_ip,
                }
                for e in entries
            ]
        }
    )
