"""A small world of two estates and a person in every role, built through the gateway."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx

from tests.poll import eventually

PASSWORD = "correct horse battery"
ROLES = (
    "operator",
    "owner",
    "tenant",
    "committee_member",
    "committee_chair",
    "estate_supervisor",
    "community_supervisor",
    "company_manager",
    "company_accountant",
    "company_staff",
)

CSV_A = (
    "building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind,phone,id_number\n"
    "1栋,1-101,residential,89.50,王芳,person,{owner_phone},\n"
    "1栋,1-102,residential,102.25,李强,person,13900000002,\n"
    "1栋,1-102,residential,102.25,李娜,person,13900000003,\n"
    "2栋,2-201,commercial,45.00,锦华置业有限公司,developer,,\n"
)


def credit_code(seed: str) -> str:
    digits = str(uuid.uuid5(uuid.NAMESPACE_URL, seed).int)[:16]
    return f"91{digits}"


@dataclass
class World:
    base: str
    operator_token: str
    estate_a: str = ""
    estate_b: str = ""
    community_a: str = ""
    company_a: str = ""
    company_b: str = ""
    users: dict[str, str] = field(default_factory=dict)  # role -> user id
    tokens: dict[str, str] = field(default_factory=dict)  # role -> access token
    usernames: dict[str, str] = field(default_factory=dict)  # role -> username
    owner_b_token: str = ""
    other_company_token: str = ""

    def client(self, role: str) -> httpx.Client:
        token = self.operator_token if role == "operator" else self.tokens[role]
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def as_token(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


def ok(reply: httpx.Response) -> dict:  # type: ignore[type-arg]
    assert reply.status_code in (200, 201, 204), reply.text
    return reply.json() if reply.content else {}


def signin(base: str, username: str, password: str = PASSWORD) -> str:
    reply = httpx.post(
        f"{base}/api/v1/auth/token", json={"username": username, "password": password}, timeout=30
    )
    return str(ok(reply)["access_token"])


def build(base: str, operator_token: str) -> World:
    tag = uuid.uuid4().hex[:6]
    owner_phone = random_phone()
    world = World(base=base, operator_token=operator_token)
    with world.client("operator") as op:
        district = ok(op.post("/api/v1/districts", json={"name": f"武侯区{tag}"}))
        street = ok(
            op.post(
                "/api/v1/streets", json={"district_id": district["district_id"], "name": "玉林街道"}
            )
        )
        c1 = ok(
            op.post(
                "/api/v1/communities",
                json={"street_id": street["street_id"], "name": "玉林北路社区"},
            )
        )
        c2 = ok(
            op.post(
                "/api/v1/communities",
                json={"street_id": street["street_id"], "name": "玉林南路社区"},
            )
        )
        world.community_a = c1["community_id"]
        k1 = ok(
            op.post(
                "/api/v1/companies",
                json={"name": f"锦诚物业{tag}", "credit_code": credit_code(tag + "a")},
            )
        )
        k2 = ok(
            op.post(
                "/api/v1/companies",
                json={"name": f"蓉城物业{tag}", "credit_code": credit_code(tag + "b")},
            )
        )
        world.company_a, world.company_b = k1["company_id"], k2["company_id"]
        a = ok(
            op.post(
                "/api/v1/estates", json={"name": f"甲小区{tag}", "community_id": c1["community_id"]}
            )
        )
        b = ok(
            op.post(
                "/api/v1/estates", json={"name": f"乙小区{tag}", "community_id": c2["community_id"]}
            )
        )
        world.estate_a, world.estate_b = a["estate_id"], b["estate_id"]
        ok(
            op.put(
                f"/api/v1/estates/{world.estate_a}/company",
                json={"company_id": world.company_a, "starts_on": "2020-01-01"},
            )
        )
        ok(
            op.put(
                f"/api/v1/estates/{world.estate_b}/company",
                json={"company_id": world.company_b, "starts_on": "2020-01-01"},
            )
        )
        for estate in (world.estate_a, world.estate_b):
            ok(
                op.post(
                    f"/api/v1/estates/{estate}/imports",
                    content=CSV_A.format(owner_phone=owner_phone).encode(),
                    headers={"content-type": "text/csv"},
                )
            )
        scopes = {
            "owner": {"estate_id": world.estate_a},
            "tenant": {"estate_id": world.estate_a},
            "committee_member": {"estate_id": world.estate_a},
            "committee_chair": {"estate_id": world.estate_a},
            "estate_supervisor": {"estate_id": world.estate_a},
            "community_supervisor": {"community_id": world.community_a},
            "company_manager": {"company_id": world.company_a},
            "company_accountant": {"company_id": world.company_a},
            "company_staff": {"company_id": world.company_a},
        }
        for role, scope in scopes.items():
            phone = owner_phone if role == "owner" else random_phone()
            user = ok(
                op.post(
                    "/api/v1/users",
                    json={
                        "username": f"{role.replace('_', '-')}-{tag}",
                        "display_name": role,
                        "phone": phone,
                        "password": PASSWORD,
                    },
                )
            )
            world.users[role] = user["user_id"]
            ok(
                op.post(
                    "/api/v1/role-grants", json={"user_id": user["user_id"], "role": role, **scope}
                )
            )
            world.usernames[role] = f"{role.replace('_', '-')}-{tag}"
            world.tokens[role] = signin(base, world.usernames[role])
        owner_b = ok(
            op.post(
                "/api/v1/users",
                json={"username": f"owner-b-{tag}", "display_name": "乙业主", "password": PASSWORD},
            )
        )
        ok(
            op.post(
                "/api/v1/role-grants",
                json={"user_id": owner_b["user_id"], "role": "owner", "estate_id": world.estate_b},
            )
        )
        world.owner_b_token = signin(base, f"owner-b-{tag}")
        other = ok(
            op.post(
                "/api/v1/users",
                json={
                    "username": f"other-manager-{tag}",
                    "display_name": "乙物业经理",
                    "password": PASSWORD,
                },
            )
        )
        ok(
            op.post(
                "/api/v1/role-grants",
                json={
                    "user_id": other["user_id"],
                    "role": "company_manager",
                    "company_id": world.company_b,
                },
            )
        )
        world.other_company_token = signin(base, f"other-manager-{tag}")
        # Other services learn of the estates by events: wait until they have. The ledger
        # lists no accounts until it has opened the books; after another module's large import
        # it may be seconds behind.
        for estate in (world.estate_a, world.estate_b):
            for path in ("overview", "ballots", "ledger/accounts"):
                eventually(
                    lambda e=estate, p=path: known(p, op.get(f"/api/v1/estates/{e}/{p}")),
                    what=f"{path} of a new estate",
                    timeout=90,
                )
    return world


def known(path: str, reply: httpx.Response) -> bool:
    """A service's answer about an estate it has learned of: the ledger's chart of accounts is
    empty until it has opened the estate's books."""
    if path == "ledger/accounts":
        return reply.status_code == 200 and reply.json() != []
    return reply.status_code == 200


def random_phone() -> str:
    return f"137{uuid.uuid4().int % 10**8:08d}"
