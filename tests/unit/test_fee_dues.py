"""Which units a month's fee assessment charges, at which rate and how much (`fees.dues`), without
a database: the rate in force per unit type, units already assessed, units without area or rate."""

from __future__ import annotations

import uuid
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from xinyi_ledger import money
from xinyi_ledger.fees import FeeRate, UnitFacts, dues, rate_for

ESTATE = uuid.uuid4()


def unit(unit_type: str, area_centi_m2: int, number: str = "101") -> UnitFacts:
    return UnitFacts(uuid.uuid4(), "1栋", number, unit_type, area_centi_m2)


def rate(unit_type: str, effective_from: str, fen: Fraction) -> FeeRate:
    return FeeRate(
        estate_id=ESTATE,
        unit_type=unit_type,
        effective_from=effective_from,
        rate_num=fen.numerator,
        rate_den=fen.denominator,
    )


RATES = [
    rate("residential", "2020-01", Fraction(250)),
    rate("residential", "2026-03", Fraction(300)),
    rate("commercial", "2020-01", Fraction(3333, 10)),
]


def test_each_unit_pays_the_rate_in_force_for_its_type_in_that_month() -> None:
    home, shop = unit("residential", 8950), unit("commercial", 4500)
    before, _ = dues([home, shop], set(), RATES, "2026-02")
    after, _ = dues([home, shop], set(), RATES, "2026-03")
    assert before == [(home, Fraction(250), 22375), (shop, Fraction(3333, 10), 14999)]
    assert after == [(home, Fraction(300), 26850), (shop, Fraction(3333, 10), 14999)]


def test_units_of_one_area_pay_their_own_types_rate() -> None:
    home, shop, other_home = (
        unit("residential", 4500),
        unit("commercial", 4500),
        unit("residential", 4500, "102"),
    )
    due, _ = dues([home, shop, other_home], set(), RATES, "2026-02")
    assert [fee for _, _, fee in due] == [11250, 14999, 11250]


def test_assessed_units_and_units_without_area_are_left_out_and_missing_rates_named() -> None:
    done, fresh, no_area = unit("residential", 8950), unit("residential", 10225), unit("parking", 0)
    shed, garage = unit("other", 500), unit("parking", 1200)
    due, missing = dues(
        [done, fresh, no_area, shed, garage],
        {done.unit_id},
        [*RATES, rate("parking", "2020-01", Fraction(100, 3))],
        "2026-02",
    )
    assert [u for u, _, _ in due] == [fresh, garage]
    assert missing == {"other"}
    # A unit type whose only units are assessed already is not reported as lacking a rate.
    _, none_missing = dues([done], {done.unit_id}, [], "2026-02")
    assert none_missing == set()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["residential", "commercial", "parking", "other"]),
            st.integers(0, 2_000),  # few enough that units share an area
            st.booleans(),
        ),
        max_size=30,
    ),
    st.lists(
        st.tuples(
            st.sampled_from(["residential", "commercial", "parking", "other"]),
            st.sampled_from(["2020-01", "2025-12", "2026-01", "2026-02", "2026-06"]),
            st.fractions(min_value=Fraction(1, 100), max_value=1000, max_denominator=1000),
        ),
        max_size=8,
        unique_by=lambda r: (r[0], r[1]),
    ),
    st.sampled_from(["2025-12", "2026-01", "2026-02", "2026-03"]),
)
def test_dues_are_each_units_rate_in_force_times_its_area(
    spec: list[tuple[str, int, bool]],
    rate_spec: list[tuple[str, str, Fraction]],
    period: str,
) -> None:
    units = [unit(kind, area, str(n)) for n, (kind, area, _) in enumerate(spec)]
    done = {u.unit_id for u, (_, _, assessed) in zip(units, spec, strict=True) if assessed}
    rates = [rate(kind, starts, fen) for kind, starts, fen in rate_spec]
    due, missing = dues(units, done, rates, period)
    # Unit by unit, as a month was assessed before the rates were looked up once per type.
    expected, lacking = [], set()
    for u in units:
        if u.unit_id in done:
            continue
        in_force = rate_for(rates, u.unit_type, period)
        if in_force is None:
            lacking.add(u.unit_type)
        elif (fee := money.unit_fee(u.area_centi_m2, in_force)) > 0:
            expected.append((u, in_force, fee))
    assert due == expected
    assert missing == lacking
