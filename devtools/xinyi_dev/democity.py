"""A deterministic demo city: planned purely from a seed, then created through the public REST API
(never by writing tables), idempotently."""

from __future__ import annotations

import csv
import io
import random
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple

import httpx

Size = Literal["small", "medium", "city"]
UnitType = Literal["residential", "commercial", "parking", "other"]
OwnerKind = Literal["person", "organisation", "developer"]
BodyKind = Literal["committee", "self_governance_group", "property_management_committee"]
ScopeKind = Literal["estate", "community", "company"]

DEMO_PASSWORD = "xinyi-demo-2026"


class DemoAccount(NamedTuple):
    username: str
    role: str
    display_name: str


# Everyone signs in with DEMO_PASSWORD. Estate roles are in the city's first estate, company roles
# in the company serving it, the community supervisor in its community.
DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("demo-owner", "owner", "王建国"),
    DemoAccount("demo-chair", "committee_chair", "李秀英"),
    DemoAccount("demo-committee", "committee_member", "张志强"),
    DemoAccount("demo-manager", "company_manager", "刘洋"),
    DemoAccount("demo-accountant", "company_accountant", "陈静"),
    DemoAccount("demo-lawyer", "estate_supervisor", "杨明辉"),
    DemoAccount("demo-community", "community_supervisor", "黄丽华"),
)
_DEMO_WOMEN = {"demo-chair", "demo-accountant", "demo-community"}
_COMMITTEE_ROLES = {"committee_chair", "committee_member"}
_SCOPE_OF_ROLE: dict[str, ScopeKind] = {
    "owner": "estate",
    "committee_chair": "estate",
    "committee_member": "estate",
    "estate_supervisor": "estate",
    "company_manager": "company",
    "company_accountant": "company",
    "community_supervisor": "community",
}


# -- the city's vocabulary ----------------------------------------------------------------------
def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# District, its GB/T 2260 code (the first six digits of residents' ID numbers), its streets (街道)
# and a few of its roads.
_DISTRICT_ROWS = (
    ("武侯区", "510107", "玉林 浆洗街 望江路 跳伞塔 火车南站 红牌楼 簇桥",
     "玉林北路 倪家桥路 科华北路 高升桥路 武侯祠大街 洗面桥街"),
    ("锦江区", "510104", "督院街 盐市口 春熙路 书院街 合江亭 水井坊 牛市口",
     "红星路 东大街 总府路 一环路东五段 莲桂南路 水碾河路"),
    ("青羊区", "510105", "少城 草市街 西御河 汪家拐 府南 光华 金沙",
     "宽巷子 光华村街 清江东路 青华路 同仁路 八宝街"),
    ("金牛区", "510106", "西安路 荷花池 驷马桥 茶店子 抚琴 九里堤 营门口",
     "蜀汉路 抚琴西路 沙湾路 交大路 营门口路 金府路"),
    ("成华区", "510108", "猛追湾 双桥子 府青路 二仙桥 建设路 万年场 保和",
     "建设路 府青路 双林路 二环路东二段 万年路 崔家店路"),
    ("龙泉驿区", "510112", "龙泉 大面 十陵 同安 东安", "驿都大道 龙都南路 成龙大道 大面路"),
    ("新都区", "510114", "新都 大丰 三河 新繁 斑竹园", "蜀龙大道 桂湖中路 大丰路 新都大道"),
    ("温江区", "510115", "柳城 公平 涌泉 天府 金马", "光华大道 凤溪大道 江安路 德通桥路"),
    ("双流区", "510116", "东升 九江 黄甲 西航港 怡心", "棠湖路 白衣上街 藏卫路 双华路"),
    ("郫都区", "510117", "郫筒 犀浦 团结 红光 安德", "望丛中路 犀安路 红光大道 郫温路"),
)  # fmt: skip
_DISTRICTS = tuple(
    (name, code, tuple(f"{s}街道" for s in _words(streets)), _words(roads))
    for name, code, streets, roads in _DISTRICT_ROWS
)
# Where owners not born in the estate's district come from (other Sichuan prefectures).
_OTHER_ID_AREAS = _words(
    "510121 510181 510304 510504 510603 510703 511002 511102 511302 511402 511502 511602 511702"
    " 513401"
)
_COMMUNITY_PLACES = _words(
    "玉林 黉门 桐梓林 芳草 丽都 蓓蕾 锦官 百花 清水河 东篱 九如 长顺 和平 人民 龙江 新桥 双林"
    " 双桥 望平 水井 迎曦 星辉 金鱼 草堂 青华 光华 沙湾 抚琴 西华 营门 建设 府青 保和 天鹅"
    " 花照壁 荷花池 二仙桥 万年 红光 柳城 棠湖 锦华 芙蓉"
)
_COMMUNITY_SUFFIXES = ("", "东路", "西路", "北路", "南路", "新村", "街", "桥")
_BRANDS = _words(
    "锦诚 嘉宝 蜀信 天府 和信 安居 诚和 锦华 蓉城 金府 信和 兴蓉 川信 德润 恒泰 宏远 友邻 邻里"
    " 同心 惠民 瑞丰 宜家 华庭 百悦 润心 正和 启明 明德 厚德 居安 长青 万和 宁泰 诚悦 信义 守信"
    " 家和 汇丰 嘉禾 望蜀"
)
_COMPANY_FORMS = (
    "成都{}物业服务有限公司",
    "四川{}物业管理有限公司",
    "成都{}物业管理有限公司",
    "四川{}物业服务有限责任公司",
)
_DEVELOPER_FORMS = ("成都{}置业有限公司", "四川{}房地产开发有限公司", "成都{}实业有限公司")
_SHOP_FORMS = ("成都{}商贸有限公司", "成都{}餐饮管理有限公司", "四川{}医药连锁有限公司")
_ESTATE_STEMS = _words(
    "锦绣 翠苑 华府 桂园 芙蓉 银杏 望江 玉林 紫荆 南苑 蓝光 金沙 丽景 锦城 天府 浣花 清江 府河"
    " 沙河 东湖 南湖 龙湖 枫林 梧桐 香樟 海棠 兰亭 书香 碧水 万科 锦官 蜀都 宽窄 青城 峨眉 岷江"
    " 花溪 世纪 阳光 和美"
)
_ESTATE_SUFFIXES = ("小区", "花园", "家园", "公寓", "苑", "名城", "雅居", "新城")
_PHASES = ("二期", "三期", "四期", "五期")
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔向汤"
)
_MALE_CHARS = "伟强磊军勇杰涛明超刚平辉鹏华飞波斌宇浩建国志文海俊峰亮成林东健新龙洪光学德荣"
_FEMALE_CHARS = "芳娜敏静丽艳娟霞燕玲婷雪琳颖慧秀英兰红梅晶莉倩佳琴云凤洁萍蓉丹欣怡璐"
_PHONE_PREFIXES = _words(
    "130 131 132 133 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 173 177 180"
    " 181 182 183 185 186 187 188 189 191 198 199"
)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def id_check_char(first17: str) -> str:
    """GB 11643 check character of a citizen ID number's first 17 digits."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def id_number_valid(id_number: str) -> bool:
    """Whether an 18-character citizen ID number has the right shape and check character."""
    return (
        len(id_number) == 18
        and id_number[:17].isdigit()
        and id_number[17] == id_check_char(id_number[:17])
    )


def _credit_code(area: str, org8: str) -> str:
    """统一社会信用代码 (GB 32100) of an enterprise: '91', area, organisation code, check."""
    org_check = 11 - sum(int(c) * w for c, w in zip(org8, _ORG_WEIGHTS, strict=True)) % 11
    body = "91" + area + org8 + {10: "X", 11: "0"}.get(org_check, str(org_check))
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_ALPHABET[(31 - total % 31) % 31]


# -- the plan -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistrictPlan:
    key: str
    name: str


@dataclass(frozen=True)
class StreetPlan:
    key: str
    district_key: str
    name: str


@dataclass(frozen=True)
class CommunityPlan:
    key: str
    street_key: str
    name: str


@dataclass(frozen=True)
class CompanyPlan:
    key: str
    name: str
    credit_code: str


@dataclass(frozen=True)
class OwnerPlan:
    """A row's owner: a person (phone and ID number), or an organisation or developer (neither:
    the import recognises them by name)."""

    name: str
    kind: OwnerKind
    phone: str
    id_number: str


@dataclass(frozen=True)
class UnitPlan:
    building: str
    number: str
    unit_type: UnitType
    exclusive_area: Decimal
    owners: tuple[OwnerPlan, ...]


@dataclass(frozen=True)
class ApprovingBodyPlan:
    kind: BodyKind
    name: str
    formed_on: date


@dataclass(frozen=True)
class EstatePlan:
    key: str
    name: str
    address: str
    community_key: str
    company_key: str
    company_starts_on: date
    approving_body: ApprovingBodyPlan
    units: tuple[UnitPlan, ...]


@dataclass(frozen=True)
class GrantPlan:
    role: str
    scope: ScopeKind
    scope_key: str


@dataclass(frozen=True)
class DemoPerson:
    username: str
    display_name: str
    phone: str
    grants: tuple[GrantPlan, ...]


@dataclass(frozen=True)
class CityPlan:
    seed: int
    size: Size
    districts: tuple[DistrictPlan, ...]
    streets: tuple[StreetPlan, ...]
    communities: tuple[CommunityPlan, ...]
    companies: tuple[CompanyPlan, ...]
    estates: tuple[EstatePlan, ...]
    demo_people: tuple[DemoPerson, ...]

    @property
    def unit_count(self) -> int:
        return sum(len(e.units) for e in self.estates)


@dataclass(frozen=True)
class _EstateKind:
    """A kind of estate: how many units, how its buildings look, what else it has."""

    units: tuple[int, int]
    floors: tuple[int, int]
    stairwells: tuple[int, int]  # 单元 per building
    rooms: tuple[int, int]  # per floor and stairwell
    parking_share: float
    shops: tuple[int, int]


_KINDS = {
    # Old courtyards (院落) of the 1980s–90s: walk-ups, no garage.
    "courtyard": _EstateKind((40, 150), (5, 7), (1, 3), (2, 3), 0.0, (0, 3)),
    "mid": _EstateKind((200, 800), (11, 18), (1, 3), (2, 4), 0.12, (2, 12)),
    "large": _EstateKind((800, 1500), (18, 33), (2, 3), (2, 4), 0.15, (6, 20)),
}


@dataclass(frozen=True)
class _Scale:
    districts: int
    streets: tuple[int, int]  # per district
    communities: tuple[int, int]  # per street
    companies: int
    estates: tuple[tuple[str, int], ...]


_SCALES: dict[str, _Scale] = {
    "small": _Scale(1, (1, 1), (2, 2), 2, (("courtyard", 3),)),
    "medium": _Scale(3, (2, 2), (1, 2), 5, (("courtyard", 8), ("mid", 9), ("large", 3))),
    "city": _Scale(10, (3, 5), (3, 5), 30, (("courtyard", 60), ("mid", 100), ("large", 40))),
}
SIZES: tuple[Size, ...] = ("small", "medium", "city")

_CO_OWNED = 0.085  # of newly sold units, bought by a couple
_SECOND_UNIT = 0.05  # of sold units, bought by someone who already owns one here
_UNSOLD = {
    "residential": 0.03,
    "commercial": 0.15,
    "parking": 0.35,
    "other": 0.5,
}  # developer keeps
_ORGANISATION_SHOP = 0.3


def _centi(value: float, low: float, high: float) -> Decimal:
    """An area with exactly two decimals, clamped to [low, high]."""
    return Decimal(round(min(max(value, low), high) * 100)).scaleb(-2)


def _day(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, (last - first).days))


class _Planner:
    """The one random stream, and what must stay unique across the city."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.phones: set[str] = set()
        self.ids: set[str] = set()
        self.codes: set[str] = set()
        self.org_names: set[str] = set()

    def phone(self) -> str:
        while True:
            phone = self.rng.choice(_PHONE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone

    def id_number(self, area: str, male: bool) -> str:
        while True:
            born = _day(self.rng, date(1942, 1, 1), date(2001, 12, 31))
            order = self.rng.randrange(0, 500) * 2 + (1 if male else 0)
            first17 = f"{area}{born:%Y%m%d}{order:03d}"
            number = first17 + id_check_char(first17)
            if number not in self.ids:
                self.ids.add(number)
                return number

    def name(self, male: bool) -> str:
        chars = _MALE_CHARS if male else _FEMALE_CHARS
        given = "".join(self.rng.choice(chars) for _ in range(self.rng.choice((1, 2, 2))))
        return self.rng.choice(_SURNAMES) + given

    def person(self, area: str, male: bool, name: str | None = None) -> OwnerPlan:
        born_here = self.rng.random() < 0.7
        return OwnerPlan(
            name=name or self.name(male),
            kind="person",
            phone=self.phone(),
            id_number=self.id_number(area if born_here else self.rng.choice(_OTHER_ID_AREAS), male),
        )

    def organisation(self, forms: tuple[str, ...]) -> str:
        """A name, unique in the city, for an organisation of one of the given forms."""
        while True:
            name = self.rng.choice(forms).format(self.rng.choice(_BRANDS))
            if name not in self.org_names:
                self.org_names.add(name)
                return name

    def credit_code(self, area: str) -> str:
        while True:
            code = _credit_code(area, f"{self.rng.randrange(10**8):08d}")
            if code not in self.codes:
                self.codes.add(code)
                return code

    def area(self, unit_type: UnitType) -> Decimal:
        if unit_type == "residential":
            return _centi(self.rng.gauss(90, 22), 45, 180)
        if unit_type == "commercial":
            return _centi(self.rng.gauss(80, 35), 20, 300)
        return _centi(self.rng.uniform(11.5, 16.5), 10, 20)


def _unit_layout(p: _Planner, kind: _EstateKind, total: int) -> list[tuple[str, str, UnitType]]:
    """(building, number, type) of every unit: shops and parking first counted off, the rest
    flats numbered 单元-floor-room ("2-301") in buildings 1栋, 2栋, …"""
    rng = p.rng
    parking = round(total * kind.parking_share * rng.uniform(0.6, 1.4))
    shops = min(rng.randint(*kind.shops), total // 10)
    flats = total - parking - shops
    floors = rng.randint(*kind.floors)
    stairwells = rng.randint(*kind.stairwells)
    rooms = rng.randint(*kind.rooms)
    layout: list[tuple[str, str, UnitType]] = []
    building = 0
    while len(layout) < flats:
        building += 1
        for stairwell in range(1, stairwells + 1):
            for floor in range(1, floors + 1):
                for room in range(1, rooms + 1):
                    layout.append(
                        (f"{building}栋", f"{stairwell}-{floor}{room:02d}", "residential")
                    )
    del layout[flats:]
    layout += [("商铺", f"1-1{i:02d}", "commercial") for i in range(1, shops + 1)]
    layout += [
        ("地下车库", f"B{1 + (i - 1) // 400}-{i:03d}", "parking") for i in range(1, parking + 1)
    ]
    return layout


def _units(
    p: _Planner,
    kind: _EstateKind,
    area_code: str,
    developer: OwnerPlan,
    chains: tuple[OwnerPlan, ...],
    reserved: tuple[OwnerPlan, ...],
) -> tuple[UnitPlan, ...]:
    """The units of one estate and who owns them: unsold ones the developer, some shops a chain,
    and each of the `reserved` people one flat."""
    rng = p.rng
    layout = _unit_layout(p, kind, rng.randint(*kind.units))
    # Flats stacked above each other share a floor plan, so the same exclusive area.
    plans: dict[tuple[str, str], Decimal] = {}
    flats = [i for i, (_, _, t) in enumerate(layout) if t == "residential"]
    reserved_at = dict(zip(rng.sample(flats, len(reserved)), reserved, strict=True))
    holders: list[tuple[OwnerPlan, ...]] = []  # owners of exactly one unit so far
    units = []
    for i, (building, number, unit_type) in enumerate(layout):
        if unit_type == "residential":
            plan_key = (building, number[: number.index("-") + 1] + number[-2:])
            if plan_key not in plans:
                plans[plan_key] = p.area(unit_type)
            area = plans[plan_key]
        else:
            area = p.area(unit_type)
        owners: tuple[OwnerPlan, ...]
        if i in reserved_at:
            owners = (reserved_at[i],)
        elif rng.random() < _UNSOLD[unit_type]:
            owners = (developer,)
        elif holders and rng.random() < _SECOND_UNIT:
            owners = holders.pop(rng.randrange(len(holders)))
        elif unit_type == "commercial" and rng.random() < _ORGANISATION_SHOP:
            owners = (rng.choice(chains),)
        elif rng.random() < _CO_OWNED:
            first_male = rng.random() < 0.5
            owners = (p.person(area_code, first_male), p.person(area_code, not first_male))
            holders.append(owners)
        else:
            owners = (p.person(area_code, rng.random() < 0.5),)
            holders.append(owners)
        units.append(UnitPlan(building, number, unit_type, area, owners))
    return tuple(units)


def plan(seed: int = 2019, size: Size = "small") -> CityPlan:
    """The city for a seed and size: the same arguments always give the same city."""
    if size not in _SCALES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    scale = _SCALES[size]
    p = _Planner(seed)
    rng = p.rng

    district_rows = rng.sample(_DISTRICTS[: max(5, scale.districts)], scale.districts)
    districts: list[DistrictPlan] = []
    streets: list[StreetPlan] = []
    communities: list[CommunityPlan] = []
    area_of_community: dict[str, str] = {}
    roads_of_community: dict[str, tuple[str, ...]] = {}
    district_of_community: dict[str, str] = {}
    community_names: set[str] = set()
    for d, (district, area, street_names, roads) in enumerate(district_rows):
        districts.append(DistrictPlan(f"d{d}", district))
        for s, street in enumerate(rng.sample(street_names, rng.randint(*scale.streets))):
            streets.append(StreetPlan(f"d{d}s{s}", f"d{d}", street))
            for c in range(rng.randint(*scale.communities)):
                while True:
                    name = rng.choice(_COMMUNITY_PLACES) + rng.choice(_COMMUNITY_SUFFIXES) + "社区"
                    if name not in community_names:
                        community_names.add(name)
                        break
                key = f"d{d}s{s}c{c}"
                communities.append(CommunityPlan(key, f"d{d}s{s}", name))
                area_of_community[key] = area
                roads_of_community[key] = roads
                district_of_community[key] = district

    companies = []
    for i in range(scale.companies):
        name = p.organisation(_COMPANY_FORMS)
        companies.append(CompanyPlan(f"co{i}", name, p.credit_code(rng.choice(district_rows)[1])))

    # The demo people come first, so their phones and ID numbers stay out of everyone else's.
    first_area = district_rows[0][1]
    demo = {
        a.username: p.person(first_area, a.username not in _DEMO_WOMEN, name=a.display_name)
        for a in DEMO_ACCOUNTS
    }
    demo_owners = tuple(demo[a.username] for a in DEMO_ACCOUNTS if _owns_a_flat(a.role))

    kinds = [k for k, n in scale.estates for _ in range(n)]
    # Developers build several estates, and shop chains own shops in several.
    developers = tuple(
        OwnerPlan(p.organisation(_DEVELOPER_FORMS), "developer", "", "")
        for _ in range(max(2, len(kinds) // 5))
    )
    chains = tuple(
        OwnerPlan(p.organisation(_SHOP_FORMS), "organisation", "", "")
        for _ in range(min(20, max(3, len(kinds) // 10)))
    )
    rng.shuffle(kinds)
    estates: list[EstatePlan] = []
    estate_names: set[str] = set()
    addresses: set[str] = set()
    for i, kind_name in enumerate(kinds):
        kind = _KINDS[kind_name]
        community = rng.choice(communities)
        roads = roads_of_community[community.key]
        while True:
            road, number = rng.choice(roads), rng.randint(1, 320)
            address = f"成都市{district_of_community[community.key]}{road}{number}号"
            if kind_name == "courtyard":
                name = f"{road}{number}号院"
            else:
                name = rng.choice(_ESTATE_STEMS) + rng.choice(_ESTATE_SUFFIXES)
                if name in estate_names:
                    name += rng.choice(_PHASES)
            if name not in estate_names and address not in addresses:
                estate_names.add(name)
                addresses.add(address)
                break
        body_kind: BodyKind
        roll = rng.random()
        if i == 0 or (kind_name != "courtyard" and roll < 0.8) or roll < 0.3:
            body_kind, body_name = "committee", f"{name}业主委员会"
        elif kind_name == "courtyard" and roll < 0.8:
            body_kind, body_name = "self_governance_group", f"{name}自治小组"
        else:
            body_kind, body_name = "property_management_committee", f"{name}物业管理委员会"
        formed_on = _day(rng, date(2019, 1, 1), date(2024, 6, 30))
        area_code = area_of_community[community.key]
        estates.append(
            EstatePlan(
                key=f"e{i}",
                name=name,
                address=address,
                community_key=community.key,
                company_key=(companies[0] if i == 0 else rng.choice(companies)).key,
                company_starts_on=formed_on + timedelta(days=rng.randint(30, 365)),
                approving_body=ApprovingBodyPlan(body_kind, body_name, formed_on),
                units=_units(
                    p,
                    kind,
                    area_code,
                    rng.choice(developers),
                    chains,
                    demo_owners if i == 0 else (),
                ),
            )
        )

    first = estates[0]
    scope_key = {"estate": first.key, "company": first.company_key}
    scope_key["community"] = first.community_key
    demo_people = []
    for account in DEMO_ACCOUNTS:
        roles = [account.role]
        if account.role == "committee_chair":
            roles.append("committee_member")
        if account.role in _COMMITTEE_ROLES:
            roles.append("owner")
        person = demo[account.username]
        demo_people.append(
            DemoPerson(
                username=account.username,
                display_name=account.display_name,
                phone=person.phone,
                grants=tuple(
                    GrantPlan(r, _SCOPE_OF_ROLE[r], scope_key[_SCOPE_OF_ROLE[r]]) for r in roles
                ),
            )
        )
    return CityPlan(
        seed=seed,
        size=size,
        districts=tuple(districts),
        streets=tuple(streets),
        communities=tuple(communities),
        companies=tuple(companies),
        estates=tuple(estates),
        demo_people=tuple(demo_people),
    )


def _owns_a_flat(role: str) -> bool:
    """The demo owner and the committee (who must be owners themselves) own a flat."""
    return role == "owner" or role in _COMMITTEE_ROLES


CSV_HEADER = (
    "building",
    "unit",
    "unit_type",
    "exclusive_area_m2",
    "owner_name",
    "owner_kind",
    "phone",
    "id_number",
)


def render_csv(estate: EstatePlan) -> bytes:
    """The estate's units and owners as an import file: one row per (unit, owner)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for unit in estate.units:
        for owner in unit.owners:
            writer.writerow(
                (
                    unit.building,
                    unit.number,
                    unit.unit_type,
                    f"{unit.exclusive_area:.2f}",
                    owner.name,
                    owner.kind,
                    owner.phone,
                    owner.id_number,
                )
            )
    return out.getvalue().encode("utf-8")


# -- carrying it out ------------------------------------------------------------------------------
class DemoCityError(RuntimeError):
    """The gateway refused a step of the demo city."""


_RETRYABLE = {502, 503, 504}


class _Gateway:
    """The gateway as the operator: signs in again when the token expires, retries what is safe
    to retry (every write carries an idempotency key)."""

    def __init__(self, client: httpx.Client, password: str) -> None:
        self.client = client
        self.password = password
        self.token = ""

    def sign_in(self) -> None:
        reply = self.client.post(
            "/api/v1/auth/token", json={"username": "operator", "password": self.password}
        )
        check_reply(reply, "sign in as operator")
        self.token = str(reply.json()["access_token"])

    def send(
        self,
        method: str,
        path: str,
        *,
        key: str,
        json: dict[str, Any] | None = None,
        csv_body: bytes | None = None,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": key}
        if csv_body is not None:
            headers["Content-Type"] = "text/csv; charset=utf-8"
        signed_in_again = False
        for attempt in range(6):
            try:
                reply = self.client.request(
                    method,
                    path,
                    json=json,
                    content=csv_body,
                    headers={**headers, "Authorization": f"Bearer {self.token}"},
                )
            except httpx.TransportError:
                if attempt == 5:
                    raise
                time.sleep(0.2 * 2**attempt)
                continue
            if reply.status_code == 401 and not signed_in_again:
                self.sign_in()
                signed_in_again = True
                continue
            if reply.status_code in _RETRYABLE and attempt < 5:
                time.sleep(0.2 * 2**attempt)
                continue
            check_reply(reply, f"{method} {path}")
            body: dict[str, Any] = reply.json()
            return body
        raise DemoCityError(f"{method} {path}: gave up after retries")


def check_reply(reply: httpx.Response, what: str) -> None:
    """Raises DemoCityError with the problem's sentence unless the reply succeeded."""
    if reply.is_success:
        return
    try:
        problem = reply.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    detail = problem.get("detail") or problem.get("title") or reply.text[:300]
    lines = [f"{what}: HTTP {reply.status_code}: {detail}"]
    lines += [
        f"  line {p.get('line')}, {p.get('column')}: {p.get('message')}"
        for p in problem.get("problems", [])[:20]
        if isinstance(p, dict)
    ]
    raise DemoCityError("\n".join(lines))


def seed(
    gateway_url: str, operator_password: str, *, seed: int = 2019, size: Size = "small"
) -> list[str]:
    """Creates the planned city through the gateway and returns its estate ids in plan order.
    Every write carries an idempotency key made of the seed, the size and the thing, so running it
    again changes nothing and returns the same ids."""
    city = plan(seed, size)
    prefix = f"democity:{seed}:{size}"
    with httpx.Client(base_url=gateway_url, timeout=120) as client:
        api = _Gateway(client, operator_password)
        api.sign_in()
        ids: dict[str, str] = {}

        def create(path: str, thing: str, key: str, body: dict[str, Any]) -> str:
            ids[key] = str(
                api.send("POST", path, key=f"{prefix}:{thing}:{key}", json=body)[f"{thing}_id"]
            )
            return ids[key]

        for d in city.districts:
            create("/api/v1/districts", "district", d.key, {"name": d.name})
        for s in city.streets:
            body = {"district_id": ids[s.district_key], "name": s.name}
            create("/api/v1/streets", "street", s.key, body)
        for c in city.communities:
            body = {"street_id": ids[c.street_key], "name": c.name}
            create("/api/v1/communities", "community", c.key, body)
        for co in city.companies:
            body = {"name": co.name, "credit_code": co.credit_code}
            create("/api/v1/companies", "company", co.key, body)

        estate_ids = []
        for e in city.estates:
            body = {"name": e.name, "community_id": ids[e.community_key], "address": e.address}
            estate_id = create("/api/v1/estates", "estate", e.key, body)
            estate_ids.append(estate_id)
            api.send(
                "PUT",
                f"/api/v1/estates/{estate_id}/company",
                key=f"{prefix}:estate:{e.key}:company",
                json={
                    "company_id": ids[e.company_key],
                    "starts_on": e.company_starts_on.isoformat(),
                    "ends_on": None,
                },
            )
            api.send(
                "PUT",
                f"/api/v1/estates/{estate_id}/approving-body",
                key=f"{prefix}:estate:{e.key}:approving-body",
                json={
                    "kind": e.approving_body.kind,
                    "name": e.approving_body.name,
                    "formed_on": e.approving_body.formed_on.isoformat(),
                },
            )
            api.send(
                "POST",
                f"/api/v1/estates/{estate_id}/imports",
                key=f"{prefix}:estate:{e.key}:units",
                csv_body=render_csv(e),
            )

        for person in city.demo_people:
            body = {
                "username": person.username,
                "display_name": person.display_name,
                "phone": person.phone,
                "password": DEMO_PASSWORD,
            }
            user_id = create("/api/v1/users", "user", person.username, body)
            for grant in person.grants:
                api.send(
                    "POST",
                    "/api/v1/role-grants",
                    key=f"{prefix}:grant:{person.username}:{grant.role}",
                    json={
                        "user_id": user_id,
                        "role": grant.role,
                        f"{grant.scope}_id": ids[grant.scope_key],
                    },
                )
        return estate_ids
