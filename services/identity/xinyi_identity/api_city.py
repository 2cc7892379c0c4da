"""Identity's servicer, part two: the city, companies, users, estates and role grants."""

from __future__ import annotations

import uuid

import grpc
from google.protobuf.message import Message
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xinyi.identity.v1 import events_pb2, identity_pb2
from xinyi_identity import domain, store
from xinyi_identity.api_auth import hash_password
from xinyi_identity.common import (
    estate_pb,
    grant_pb,
    midnight,
    stamp,
    today,
    uuid_or_none,
)
from xinyi_kit import audit, auth, clock, idempotency
from xinyi_kit.db import PLATFORM, Database, DriverQuery
from xinyi_kit.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from xinyi_kit.outbox import Outbox
from xinyi_kit.permissions import (
    SCOPE_OF,
    Action,
    Role,
    Scope,
    allowed,
    authorize,
    authorize_estate,
    roles_in,
)

APPROVING_KINDS = {
    identity_pb2.APPROVING_BODY_KIND_COMMITTEE,
    identity_pb2.APPROVING_BODY_KIND_SELF_GOVERNANCE_GROUP,
    identity_pb2.APPROVING_BODY_KIND_PROPERTY_MANAGEMENT_COMMITTEE,
}


# An estate's page, which every page of the web app asks for: the estate, its company and its
# number of units in one statement on the driver, not three through the ORM.
_ESTATE = DriverQuery(
    select(
        *store.Estate.__table__.columns,
        store.company_serving(bindparam("on")).label("company_id"),
        store.unit_count().label("unit_count"),
    ).where(store.Estate.estate_id == bindparam("estate"))
)
_ESTATE_COLUMNS = tuple(store.Estate.__table__.columns.keys())


class CityApi:
    db: Database
    outbox: Outbox

    async def _once(
        self,
        session: AsyncSession,
        method: str,
        request: Message,
        response_type: type[Message],
        compute: object,
        estate_id: uuid.UUID = PLATFORM,
    ) -> Message:
        principal = auth.require()
        key = getattr(request, "idempotency_key", "")
        return await idempotency.once(
            session,
            estate_id,
            f"{principal.user_id}:{method}",
            key,
            request,
            response_type,
            compute,  # type: ignore[arg-type]
        )

    # -- districts, streets, communities ------------------------------------------------------
    async def CreateDistrict(
        self, request: identity_pb2.CreateDistrictRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.District:
        authorize(Action.CITY_MANAGE)
        name = domain.clean_name(request.name, "the district's name")

        async def create() -> identity_pb2.District:
            if (
                await session.execute(select(store.District).where(store.District.name == name))
            ).first():
                raise AlreadyExists(f"a district named {name} exists already")
            row = store.District(district_id=uuid.uuid4(), name=name)
            session.add(row)
            await audit.record(session, PLATFORM, "district.create", name)
            return identity_pb2.District(district_id=str(row.district_id), name=name)

        async with self.db.system_tx() as session:
            return await self._once(
                session, "CreateDistrict", request, identity_pb2.District, create
            )  # type: ignore[return-value]

    async def CreateStreet(
        self, request: identity_pb2.CreateStreetRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Street:
        authorize(Action.CITY_MANAGE)
        name = domain.clean_name(request.name, "the street's name")
        district_id = domain.parse_uuid(request.district_id, "district_id")

        async def create() -> identity_pb2.Street:
            if await session.get(store.District, district_id) is None:
                raise NotFound("no such district")
            clash = await session.execute(
                select(store.Street).where(
                    store.Street.district_id == district_id, store.Street.name == name
                )
            )
            if clash.first():
                raise AlreadyExists(f"the district has a street named {name} already")
            row = store.Street(street_id=uuid.uuid4(), district_id=district_id, name=name)
            session.add(row)
            await audit.record(session, PLATFORM, "street.create", name)
            return identity_pb2.Street(
                street_id=str(row.street_id), district_id=str(district_id), name=name
            )

        async with self.db.system_tx() as session:
            return await self._once(session, "CreateStreet", request, identity_pb2.Street, create)  # type: ignore[return-value]

    async def CreateCommunity(
        self, request: identity_pb2.CreateCommunityRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Community:
        authorize(Action.CITY_MANAGE)
        name = domain.clean_name(request.name, "the community's name")
        street_id = domain.parse_uuid(request.street_id, "street_id")

        async def create() -> identity_pb2.Community:
            street = await session.get(store.Street, street_id)
            if street is None:
                raise NotFound("no such street")
            clash = await session.execute(
                select(store.Community).where(
                    store.Community.street_id == street_id, store.Community.name == name
                )
            )
            if clash.first():
                raise AlreadyExists(f"the street has a community named {name} already")
            row = store.Community(community_id=uuid.uuid4(), street_id=street_id, name=name)
            session.add(row)
            district = await session.get(store.District, street.district_id)
            await audit.record(session, PLATFORM, "community.create", name)
            created = identity_pb2.Community(
                community_id=str(row.community_id),
                street_id=str(street_id),
                name=name,
                street_name=street.name,
                district_name=district.name if district else "",
                district_id=str(street.district_id),
            )
            # Read models (disclosure's dashboards) name communities and streets by it.
            await self.outbox.emit(
                session,
                PLATFORM,
                "community_created",
                events_pb2.CommunityCreated(
                    community_id=created.community_id,
                    name=created.name,
                    street_id=created.street_id,
                    street_name=created.street_name,
                    district_id=created.district_id,
                    district_name=created.district_name,
                ),
            )
            return created

        async with self.db.system_tx() as session:
            return await self._once(
                session, "CreateCommunity", request, identity_pb2.Community, create
            )  # type: ignore[return-value]

    async def ListCommunities(
        self, request: identity_pb2.ListCommunitiesRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListCommunitiesResponse:
        auth.require()
        async with self.db.system_tx() as session:
            rows = (
                await session.execute(
                    select(
                        store.Community,
                        store.Street.name,
                        store.District.name,
                        store.District.district_id,
                    )
                    .join(store.Street, store.Street.street_id == store.Community.street_id)
                    .join(store.District, store.District.district_id == store.Street.district_id)
                    .order_by(store.District.name, store.Street.name, store.Community.name)
                )
            ).all()
        return identity_pb2.ListCommunitiesResponse(
            communities=[
                identity_pb2.Community(
                    community_id=str(c.community_id),
                    street_id=str(c.street_id),
                    name=c.name,
                    street_name=street,
                    district_name=district,
                    district_id=str(district_id),
                )
                for c, street, district, district_id in rows
            ]
        )

    # -- companies and users -----------------------------------------------------------------
    async def CreateCompany(
        self, request: identity_pb2.CreateCompanyRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.Company:
        authorize(Action.CITY_MANAGE)
        name = domain.clean_name(request.name, "the company's name")
        code = domain.clean_credit_code(request.credit_code)

        async def create() -> identity_pb2.Company:
            clash = await session.execute(
                select(store.Company).where(store.Company.credit_code == code)
            )
            if clash.first():
                raise AlreadyExists("a company with this credit code is on the platform already")
            row = store.Company(
                company_id=uuid.uuid4(), name=name, credit_code=code, created_at=clock.now()
            )
            session.add(row)
            await audit.record(session, PLATFORM, "company.create", name, {"credit_code": code})
            return _company_pb(row)

        async with self.db.system_tx() as session:
            return await self._once(session, "CreateCompany", request, identity_pb2.Company, create)  # type: ignore[return-value]

    async def ListCompanies(
        self, request: identity_pb2.ListCompaniesRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListCompaniesResponse:
        auth.require()
        async with self.db.system_tx() as session:
            rows = (
                await session.execute(select(store.Company).order_by(store.Company.name))
            ).scalars()
            return identity_pb2.ListCompaniesResponse(companies=[_company_pb(r) for r in rows])

    async def CreateUser(
        self, request: identity_pb2.CreateUserRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.User:
        authorize(Action.CITY_MANAGE)
        username = domain.clean_username(request.username)
        display = domain.clean_name(request.display_name or username, "the display name")
        phone = domain.clean_phone(request.phone) if request.phone else None
        password = domain.check_password(request.password)
        hashed = await hash_password(password)

        async def create() -> identity_pb2.User:
            if await store.user_by_login(session, username) or (
                phone and await store.user_by_login(session, phone)
            ):
                raise AlreadyExists("a user with this username or phone number exists already")
            row = store.User(
                user_id=uuid.uuid4(),
                username=username,
                display_name=display,
                password_hash=hashed,
                created_at=clock.now(),
                phone=phone,
            )
            session.add(row)
            await audit.record(session, PLATFORM, "user.create", username)
            return identity_pb2.User(
                user_id=str(row.user_id), username=username, display_name=display, phone=phone or ""
            )

        async with self.db.system_tx() as session:
            return await self._once(session, "CreateUser", request, identity_pb2.User, create)  # type: ignore[return-value]

    # -- estates -----------------------------------------------------------------------------
    async def CreateEstate(
        self, request: identity_pb2.CreateEstateRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CreateEstateResponse:
        authorize(Action.ESTATE_CREATE)
        name = domain.clean_name(request.name, "the estate's name")
        community = uuid_or_none(request.community_id, "community_id")
        if len(request.address) > 500:
            raise InvalidArgument("the address has at most 500 characters")

        async def create() -> identity_pb2.CreateEstateResponse:
            if community is not None and await session.get(store.Community, community) is None:
                raise NotFound("no such community")
            row = store.Estate(
                estate_id=uuid.uuid4(),
                name=name,
                community_id=community,
                address=request.address.strip(),
                created_at=clock.now(),
                approving_body_kind=0,
                approving_body_name="",
            )
            session.add(row)
            await session.flush()
            await self.outbox.emit(
                session,
                row.estate_id,
                "estate_created",
                events_pb2.EstateCreated(
                    estate_id=str(row.estate_id),
                    name=row.name,
                    community_id=str(row.community_id or ""),
                    address=row.address,
                ),
            )
            await audit.record(session, row.estate_id, "estate.create", name)
            return identity_pb2.CreateEstateResponse(estate=estate_pb(row))

        async with self.db.system_tx() as session:
            return await self._once(  # type: ignore[return-value]
                session, "CreateEstate", request, identity_pb2.CreateEstateResponse, create
            )

    async def GetEstate(
        self, request: identity_pb2.GetEstateRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.GetEstateResponse:
        _, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.driver_tx(estate_id) as raw:
            found = await raw.fetchrow(_ESTATE.sql, *_ESTATE.args(estate=estate_id, on=today()))
        if found is None:
            raise NotFound("no such estate")
        row = store.Estate(**{name: found[name] for name in _ESTATE_COLUMNS})
        return identity_pb2.GetEstateResponse(
            estate=estate_pb(row, company_id=found["company_id"], unit_count=found["unit_count"])
        )

    async def ListEstates(
        self, request: identity_pb2.ListEstatesRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListEstatesResponse:
        principal = auth.require()
        size = request.page_size or 50
        if not 1 <= size <= 500:
            raise InvalidArgument("page_size must be between 1 and 500")
        after = uuid_or_none(request.page_token, "page_token")
        community = uuid_or_none(request.community_id, "community_id")
        on = today()
        query = (
            select(
                store.Estate,
                store.company_serving(on).label("company_id"),
                store.unit_count().label("unit_count"),
            )
            .order_by(store.Estate.estate_id)
            .limit(size + 1)
        )
        if not allowed(principal, Action.ESTATE_LIST_ALL):
            # Everyone else lists the estates they hold a role in.
            mine = {uuid.UUID(g.estate_id) for g in principal.grants if g.estate_id}
            query = query.where(store.Estate.estate_id.in_(mine))
        if after is not None:
            query = query.where(store.Estate.estate_id > after)
        if community is not None:
            query = query.where(store.Estate.community_id == community)
        async with self.db.system_tx() as session:
            rows = list((await session.execute(query)).tuples())
        more = len(rows) > size
        rows = rows[:size]
        return identity_pb2.ListEstatesResponse(
            estates=[estate_pb(r, company_id=c, unit_count=n) for r, c, n in rows],
            next_page_token=str(rows[-1][0].estate_id) if more and rows else "",
        )

    async def AssignCompany(
        self, request: identity_pb2.AssignCompanyRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.CompanyAssignment:
        _, estate_id = authorize_estate(Action.ESTATE_ASSIGN_COMPANY, request.estate_id)
        company_id = domain.parse_uuid(request.company_id, "company_id")
        starts = domain.parse_date(request.starts_on, "starts_on")
        ends = domain.parse_date(request.ends_on, "ends_on") if request.ends_on else None
        if ends is not None and ends <= starts:
            raise InvalidArgument("ends_on must be after starts_on")

        async def assign() -> identity_pb2.CompanyAssignment:
            if await session.get(store.Estate, estate_id) is None:
                raise NotFound("no such estate")
            if await session.get(store.Company, company_id) is None:
                raise NotFound("no such company")
            clash = await store.overlapping_assignment(session, estate_id, starts, ends)
            if clash is not None:
                raise FailedPrecondition(
                    f"the estate is already served from {clash.starts_on.isoformat()}"
                    + (f" until {clash.ends_on.isoformat()}" if clash.ends_on else "")
                    + "; one company serves an estate at a time"
                )
            session.add(
                store.CompanyAssignment(
                    estate_id=estate_id, company_id=company_id, starts_on=starts, ends_on=ends
                )
            )
            event = events_pb2.CompanyAssigned(estate_id=str(estate_id), company_id=str(company_id))
            event.starts_at.FromDatetime(midnight(starts))
            if ends is not None:
                event.ends_at.FromDatetime(midnight(ends))
            await self.outbox.emit(session, estate_id, "company_assigned", event)
            await audit.record(
                session,
                estate_id,
                "estate.assign_company",
                str(company_id),
                {"starts_on": starts.isoformat(), "ends_on": ends.isoformat() if ends else None},
            )
            return identity_pb2.CompanyAssignment(
                estate_id=str(estate_id),
                company_id=str(company_id),
                starts_on=starts.isoformat(),
                ends_on=ends.isoformat() if ends else "",
            )

        async with self.db.system_tx() as session:
            await session.execute(
                select(store.Estate).where(store.Estate.estate_id == estate_id).with_for_update()
            )
            return await self._once(  # type: ignore[return-value]
                session, "AssignCompany", request, identity_pb2.CompanyAssignment, assign, estate_id
            )

    async def SetApprovingBody(
        self, request: identity_pb2.SetApprovingBodyRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ApprovingBody:
        _, estate_id = authorize_estate(Action.ESTATE_SET_APPROVING_BODY, request.estate_id)
        if request.kind not in APPROVING_KINDS:
            raise InvalidArgument(
                "kind is committee, self_governance_group or property_management_committee"
            )
        name = domain.clean_name(request.name, "the approving body's name")
        formed = domain.parse_date(request.formed_on, "formed_on") if request.formed_on else today()
        async with self.db.system_tx() as session:
            row = await session.get(store.Estate, estate_id, with_for_update=True)
            if row is None:
                raise NotFound("no such estate")
            row.approving_body_kind = int(request.kind)
            row.approving_body_name = name
            row.approving_body_formed_on = formed
            await audit.record(
                session,
                estate_id,
                "estate.set_approving_body",
                name,
                {"kind": identity_pb2.ApprovingBodyKind.Name(request.kind)},
            )
        return identity_pb2.ApprovingBody(
            kind=request.kind, name=name, formed_on=formed.isoformat()
        )

    async def MergeEstates(
        self, request: identity_pb2.MergeEstatesRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ManagementGroup:
        authorize(Action.ESTATE_CREATE)
        name = domain.clean_name(request.name, "the group's name")
        estates = sorted({domain.parse_uuid(e, "estate_ids") for e in request.estate_ids})
        if len(estates) < 2:
            raise InvalidArgument("a management group joins at least two estates")

        async def merge() -> identity_pb2.ManagementGroup:
            group = store.ManagementGroup(group_id=uuid.uuid4(), name=name)
            session.add(group)
            await session.flush()
            for estate_id in estates:
                row = await session.get(store.Estate, estate_id, with_for_update=True)
                if row is None:
                    raise NotFound(f"no such estate: {estate_id}")
                if row.management_group_id is not None:
                    raise FailedPrecondition(f"{row.name} is in a management group already")
                row.management_group_id = group.group_id
                await audit.record(session, estate_id, "estate.merge", name)
            for estate_id in estates:
                await self.outbox.emit(
                    session,
                    estate_id,
                    "estates_merged",
                    events_pb2.EstatesMerged(
                        estate_id=str(estate_id),
                        group_id=str(group.group_id),
                        name=name,
                        estate_ids=[str(e) for e in estates],
                    ),
                )
            return identity_pb2.ManagementGroup(
                group_id=str(group.group_id), name=name, estate_ids=[str(e) for e in estates]
            )

        async with self.db.system_tx() as session:
            return await self._once(
                session, "MergeEstates", request, identity_pb2.ManagementGroup, merge
            )  # type: ignore[return-value]

    # -- roles -------------------------------------------------------------------------------
    async def GrantRole(
        self, request: identity_pb2.GrantRoleRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RoleGrant:
        principal = auth.require()
        try:
            role = Role(request.role)
        except ValueError:
            raise InvalidArgument(
                f"unknown role {request.role[:40]!r}; roles are: {', '.join(r.value for r in Role)}"
            ) from None
        estate = uuid_or_none(request.estate_id, "estate_id")
        community = uuid_or_none(request.community_id, "community_id")
        company = uuid_or_none(request.company_id, "company_id")
        scope = SCOPE_OF[role]
        given = {Scope.ESTATE: estate, Scope.COMMUNITY: community, Scope.COMPANY: company}
        if any(v is not None for k, v in given.items() if k is not scope) or (
            scope is not Scope.PLATFORM and given[scope] is None
        ):
            raise InvalidArgument(
                f"the role {role.value} is granted per {scope.value}"
                + ("" if scope is Scope.PLATFORM else f": give {scope.value}_id and nothing else")
            )
        _may_grant(principal, role, estate, company)
        user_id = domain.parse_uuid(request.user_id, "user_id")

        async def grant() -> identity_pb2.RoleGrant:
            if await session.get(store.User, user_id) is None:
                raise NotFound("no such user")
            target = {"estate": estate, "community": community, "company": company}
            if estate is not None and await session.get(store.Estate, estate) is None:
                raise NotFound("no such estate")
            if community is not None and await session.get(store.Community, community) is None:
                raise NotFound("no such community")
            if company is not None and await session.get(store.Company, company) is None:
                raise NotFound("no such company")
            existing = await session.execute(
                select(store.RoleGrant).where(
                    store.RoleGrant.user_id == user_id,
                    store.RoleGrant.role == role.value,
                    store.RoleGrant.estate_id.is_not_distinct_from(estate),
                    store.RoleGrant.community_id.is_not_distinct_from(community),
                    store.RoleGrant.company_id.is_not_distinct_from(company),
                    store.RoleGrant.revoked_at.is_(None),
                )
            )
            found = existing.scalars().first()
            if found is not None:
                return grant_pb(found)
            row = store.RoleGrant(
                grant_id=uuid.uuid4(),
                user_id=user_id,
                role=role.value,
                estate_id=estate,
                community_id=community,
                company_id=company,
                granted_at=clock.now(),
                granted_by=uuid.UUID(principal.user_id),
            )
            session.add(row)
            linked: list[str] = []
            if role is Role.OWNER and estate is not None:
                linked = await _link_owner_records(session, estate, user_id)
            key = estate or PLATFORM
            await self.outbox.emit(
                session,
                key,
                "role_granted",
                events_pb2.RoleGranted(
                    user_id=str(user_id),
                    role=role.value,
                    estate_id=str(estate or ""),
                    community_id=str(community or ""),
                    company_id=str(company or ""),
                    owner_ids=linked,
                ),
            )
            await audit.record(
                session,
                key,
                "role.grant",
                str(user_id),
                {"role": role.value, **{k: str(v) for k, v in target.items() if v}},
            )
            return grant_pb(row)

        async with self.db.system_tx() as session:
            return await self._once(session, "GrantRole", request, identity_pb2.RoleGrant, grant)  # type: ignore[return-value]

    async def RevokeRole(
        self, request: identity_pb2.RevokeRoleRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.RoleGrant:
        principal = auth.require()
        grant_id = domain.parse_uuid(request.grant_id, "grant_id")
        async with self.db.system_tx() as session:
            row = await session.get(store.RoleGrant, grant_id, with_for_update=True)
            if row is None:
                raise NotFound("no such role grant")
            _may_grant(principal, Role(row.role), row.estate_id, row.company_id)
            if row.revoked_at is None:
                row.revoked_at = clock.now()
                key = row.estate_id or PLATFORM
                await self.outbox.emit(
                    session,
                    key,
                    "role_revoked",
                    events_pb2.RoleRevoked(
                        user_id=str(row.user_id),
                        role=row.role,
                        estate_id=str(row.estate_id or ""),
                        community_id=str(row.community_id or ""),
                        company_id=str(row.company_id or ""),
                    ),
                )
                await audit.record(
                    session, key, "role.revoke", str(row.user_id), {"role": row.role}
                )
            return grant_pb(row)

    async def ListRoleGrants(
        self, request: identity_pb2.ListRoleGrantsRequest, context: grpc.aio.ServicerContext
    ) -> identity_pb2.ListRoleGrantsResponse:
        _, estate_id = authorize(Action.ROLES_READ, request.estate_id)
        async with self.db.system_tx() as session:
            rows = (
                await session.execute(
                    select(store.RoleGrant)
                    .where(
                        store.RoleGrant.estate_id == estate_id, store.RoleGrant.revoked_at.is_(None)
                    )
                    .order_by(store.RoleGrant.role, store.RoleGrant.granted_at)
                )
            ).scalars()
            return identity_pb2.ListRoleGrantsResponse(grants=[grant_pb(r) for r in rows])


def _may_grant(
    principal: auth.Principal, role: Role, estate: uuid.UUID | None, company: uuid.UUID | None
) -> None:
    """The operator grants any role; a company's manager grants residents' roles in the estates
    the company serves and staff roles of the company itself. Nobody else grants."""
    if principal.is_operator:
        return
    if (
        role in (Role.OWNER, Role.TENANT)
        and estate is not None
        and allowed(principal, Action.ROLES_GRANT_ESTATE, estate)
    ):
        return
    if (
        role in (Role.COMPANY_STAFF, Role.COMPANY_ACCOUNTANT)
        and company is not None
        and any(
            g.role == Role.COMPANY_MANAGER.value and g.company_id == str(company)
            for g in principal.grants
        )
    ):
        return
    if estate is not None and not roles_in(principal, estate):
        raise NotFound("no such estate")
    raise PermissionDenied(f"your roles do not allow granting the role {role.value}")


async def _link_owner_records(
    session: AsyncSession, estate: uuid.UUID, user_id: uuid.UUID
) -> list[str]:
    """Connects the estate's owner records carrying the user's phone number to the account, so
    the owner sees their own personal data and units; returns their ids."""
    user = await session.get(store.User, user_id)
    if user is None or not user.phone:
        return []
    linked = await session.execute(
        update(store.Owner)
        .where(store.Owner.estate_id == estate, store.Owner.phone == user.phone)
        .values(user_id=user_id)
        .returning(store.Owner.owner_id)
    )
    return sorted(str(o) for o in linked.scalars())


def _company_pb(row: store.Company) -> identity_pb2.Company:
    return identity_pb2.Company(
        company_id=str(row.company_id),
        name=row.name,
        credit_code=row.credit_code,
        created_at=stamp(row.created_at),
    )
