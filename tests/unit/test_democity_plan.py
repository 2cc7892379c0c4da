"""The demo city's plan: deterministic, realistic in shape, valid identifiers, and an import file
that carries exactly the planned units and owners."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from decimal import Decimal

import pytest

from xinyi_dev import democity
from xinyi_dev.democity import DEMO_ACCOUNTS, CityPlan, EstatePlan, OwnerPlan, plan, render_csv

CREDIT_CODE = re.compile(r"^[0-9A-HJ-NP-RTUWXY]{18}$")
PHONE = re.compile(r"^1[3-9]\d{9}$")
UNIT_NUMBER = re.compile(r"^\d+-\d+\d{2}$")


@pytest.fixture(scope="module")
def small() -> CityPlan:
    return plan(7, "small")


@pytest.fixture(scope="module")
def medium() -> CityPlan:
    return plan(7, "medium")


def _people(city: CityPlan) -> list[OwnerPlan]:
    return [o for e in city.estates for u in e.units for o in u.owners if o.kind == "person"]


def test_the_same_seed_gives_the_same_city() -> None:
    assert plan(2019, "small") == plan(2019, "small")
    assert plan(5, "medium") == plan(5, "medium")
    assert render_csv(plan(3).estates[0]) == render_csv(plan(3).estates[0])


def test_another_seed_gives_another_city() -> None:
    first, second = plan(1), plan(2)
    assert first != second
    assert [e.name for e in first.estates] != [e.name for e in second.estates]
    assert _people(first)[0].id_number != _people(second)[0].id_number


def test_sizes_have_their_estate_counts_and_unit_ranges(small: CityPlan, medium: CityPlan) -> None:
    assert plan().size == "small" and plan().seed == 2019
    assert len(small.estates) == 3
    assert all(40 <= len(e.units) <= 150 for e in small.estates)
    assert len(medium.estates) == 20
    assert all(40 <= len(e.units) <= 1500 for e in medium.estates)
    with pytest.raises(ValueError, match="size"):
        plan(1, "huge")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [2019])
def test_the_city_size_is_a_benchmark_city(seed: int) -> None:
    city = plan(seed, "city")
    assert len(city.estates) == 200
    assert 90_000 <= city.unit_count <= 110_000
    assert len(city.districts) == 10 and len(city.companies) == 30
    assert len({e.name for e in city.estates}) == 200
    ids = [o.id_number for o in _people(city)]
    phones = {o.phone: o.id_number for o in _people(city)}
    # One person per ID number and per phone, across the whole city.
    assert len(phones) == len(set(ids))


def test_the_city_hierarchy_is_consistent(medium: CityPlan) -> None:
    districts = {d.key for d in medium.districts}
    streets = {s.key for s in medium.streets}
    communities = {c.key for c in medium.communities}
    companies = {c.key for c in medium.companies}
    assert all(s.district_key in districts for s in medium.streets)
    assert all(c.street_key in streets for c in medium.communities)
    assert all(e.community_key in communities for e in medium.estates)
    assert all(e.company_key in companies for e in medium.estates)
    assert all(d.name.endswith("区") for d in medium.districts)
    assert all(s.name.endswith("街道") for s in medium.streets)
    assert all(c.name.endswith("社区") for c in medium.communities)
    # Names the database keeps unique stay unique.
    assert len({d.name for d in medium.districts}) == len(medium.districts)
    assert len({(s.district_key, s.name) for s in medium.streets}) == len(medium.streets)
    assert len({(c.street_key, c.name) for c in medium.communities}) == len(medium.communities)
    assert len({c.credit_code for c in medium.companies}) == len(medium.companies)
    assert len({e.key for e in medium.estates}) == len(medium.estates)
    for estate in medium.estates:
        assert estate.address.startswith("成都市")
        assert estate.company_starts_on > estate.approving_body.formed_on


def test_companies_have_realistic_names_and_credit_codes(medium: CityPlan) -> None:
    for company in medium.companies:
        assert company.name[:2] in ("成都", "四川") and "物业" in company.name
        assert company.name.endswith("公司")
        assert CREDIT_CODE.match(company.credit_code), company.credit_code


def test_units_are_numbered_typed_and_have_two_decimal_areas(medium: CityPlan) -> None:
    types: Counter[str] = Counter()
    for estate in medium.estates:
        keys = [(u.building, u.number) for u in estate.units]
        assert len(set(keys)) == len(keys), estate.name
        for unit in estate.units:
            types[unit.unit_type] += 1
            assert isinstance(unit.exclusive_area, Decimal)
            assert unit.exclusive_area.as_tuple().exponent == -2
            assert unit.exclusive_area > 0
            assert unit.owners
            if unit.unit_type == "residential":
                assert UNIT_NUMBER.match(unit.number), unit.number
                assert unit.building.endswith("栋")
                assert Decimal(45) <= unit.exclusive_area <= Decimal(180)
    total = sum(types.values())
    assert types["residential"] / total > 0.75
    assert types["commercial"] > 0 and types["parking"] > 0
    residential = [
        u.exclusive_area for e in medium.estates for u in e.units if u.unit_type == "residential"
    ]
    assert 80 <= sum(residential) / len(residential) <= 100


def test_people_have_valid_id_numbers_and_phones(medium: CityPlan) -> None:
    people = _people(medium)
    assert len(people) > 1000
    for person in people:
        assert democity.id_number_valid(person.id_number), person.id_number
        assert PHONE.match(person.phone), person.phone
        assert 2 <= len(person.name) <= 3 and person.name[0] in democity._SURNAMES
    # One phone per person and one person per ID number.
    by_id = {p.id_number: p for p in people}
    assert len({p.phone for p in by_id.values()}) == len(by_id)


def test_the_id_checksum_follows_gb_11643() -> None:
    # The standard's own example.
    assert democity.id_check_char("11010519491231002") == "X"
    assert democity.id_number_valid("11010519491231002X")
    assert not democity.id_number_valid("110105194912310021")
    assert not democity.id_number_valid("11010519491231002")


def test_ownership_has_couples_investors_and_the_developer(medium: CityPlan) -> None:
    units = [u for e in medium.estates for u in e.units]
    co_owned = [u for u in units if len(u.owners) == 2]
    assert 0.05 <= len(co_owned) / len(units) <= 0.11
    assert all(o.kind == "person" for u in co_owned for o in u.owners)
    assert max(len(u.owners) for u in units) == 2
    holdings = Counter(p.id_number for p in _people(medium))
    multi = sum(1 for n in holdings.values() if n >= 2)
    assert 0.03 <= multi / len(holdings) <= 0.08
    kinds = Counter(o.kind for u in units for o in u.owners)
    assert kinds["developer"] > 0 and kinds["organisation"] > 0
    for unit in units:
        for owner in unit.owners:
            if owner.kind != "person":
                # The import recognises organisations by name and refuses ID numbers for them.
                assert owner.phone == "" and owner.id_number == ""
                assert owner.name.endswith("公司")


def test_demo_accounts_match_the_plan(small: CityPlan) -> None:
    assert len({a.username for a in DEMO_ACCOUNTS}) == len(DEMO_ACCOUNTS)
    roles = {a.role for a in DEMO_ACCOUNTS}
    assert roles == {
        "owner",
        "committee_chair",
        "committee_member",
        "company_manager",
        "company_accountant",
        "estate_supervisor",
        "community_supervisor",
    }
    assert len(democity.DEMO_PASSWORD) >= 12
    first = small.estates[0]
    assert first.approving_body.kind == "committee"
    people = {p.username: p for p in small.demo_people}
    assert [p.username for p in small.demo_people] == [a.username for a in DEMO_ACCOUNTS]
    scopes = {"estate": first.key, "company": first.company_key, "community": first.community_key}
    for account in DEMO_ACCOUNTS:
        person = people[account.username]
        assert person.display_name == account.display_name
        assert PHONE.match(person.phone)
        assert account.role in {g.role for g in person.grants}
        for grant in person.grants:
            assert grant.scope_key == scopes[grant.scope]
    # The owner and the committee own a flat of the first estate, under their own name and phone.
    for username in ("demo-owner", "demo-chair", "demo-committee"):
        person = people[username]
        assert ("owner", first.key) in {(g.role, g.scope_key) for g in person.grants}
        mine = [u for u in first.units for o in u.owners if o.phone == person.phone]
        assert len(mine) == 1 and mine[0].unit_type == "residential"
        assert mine[0].owners[0].name == person.display_name
    others = small.estates[1:]
    phones = {p.phone for p in small.demo_people}
    assert not any(o.phone in phones for e in others for u in e.units for o in u.owners)


def _parse(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_the_import_file_round_trips_the_plan(small: CityPlan, medium: CityPlan) -> None:
    estates: list[EstatePlan] = [*small.estates, *medium.estates[:4]]
    for estate in estates:
        data = render_csv(estate)
        assert data.splitlines()[0] == (
            b"building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind,phone,id_number"
        )
        rows = _parse(data)
        assert len(rows) == sum(len(u.owners) for u in estate.units)
        back: dict[tuple[str, str], tuple[str, Decimal, list[tuple[str, ...]]]] = {}
        for row in rows:
            key = (row["building"], row["unit"])
            owner = (row["owner_name"], row["owner_kind"], row["phone"], row["id_number"])
            area = Decimal(row["exclusive_area_m2"])
            assert re.fullmatch(r"\d+\.\d{2}", row["exclusive_area_m2"])
            if key in back:
                assert back[key][:2] == (row["unit_type"], area)
                back[key][2].append(owner)
            else:
                back[key] = (row["unit_type"], area, [owner])
        assert back == {
            (u.building, u.number): (
                u.unit_type,
                u.exclusive_area,
                [(o.name, o.kind, o.phone, o.id_number) for o in u.owners],
            )
            for u in estate.units
        }
