"""The monthly disclosure report, built by the disclosure service from events only, checked
against figures computed here from what was posted through the ledger's API: a normal month
raises no flag; the pilot's parking case (2,400 yuan posted flat as one sum month after month
while the gates took over 10,000) raises its flags, which the company explains and owners read,
and which resolve once the company posts the gates' takings day by day."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.identity.world import World, ok, signin
from tests.ledger.test_vouchers import png, upload
from tests.poll import eventually

SHANGHAI = ZoneInfo("Asia/Shanghai")


def month_of(delta: int = 0) -> str:
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    index = today.year * 12 + today.month - 1 + delta
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def report(c: httpx.Client, estate: str, period: str) -> dict[str, Any]:
    return ok(c.get(f"/api/v1/estates/{estate}/reports/monthly/{period}"))


def percent(value: Fraction) -> str:
    hundredths = int(value * 10_000 + Fraction(1, 2))
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def test_a_months_report_equals_what_was_posted_and_a_normal_month_has_no_flag(
    world: World, totp: Callable[[str], str]
) -> None:
    base, period = f"/api/v1/estates/{world.estate_a}", month_of()
    today = datetime.now(UTC).astimezone(SHANGHAI).date().isoformat()
    posted: dict[str, list[dict[str, Any]]] = {}
    with world.client("company_manager") as manager:
        ok(
            manager.put(
                f"{base}/fees/rates",
                json={
                    "rates": [
                        {"unit_type": t, "fen_per_m2_month": r, "effective_from": "2020-01"}
                        for t, r in (("residential", "250"), ("commercial", "400"))
                    ]
                },
            )
        )
    with world.client("company_accountant") as acc:
        units = {u["number"]: u["unit_id"] for u in ok(acc.get(f"{base}/units"))["units"]}
        eventually(
            lambda: ok(acc.get(f"{base}/fees/arrears"))["units_total"] == len(units),
            what="the ledger learning the units",
        )
        fees = ok(acc.post(f"{base}/fees/assessments", json={"period": period}))["fees"]
        assessed = {f["unit_id"]: f["amount_fen"] for f in fees}
        # One unit pays in full, one half; the developer's shop nothing.
        paid = {
            units["1-101"]: assessed[units["1-101"]],
            units["1-102"]: assessed[units["1-102"]] // 2,
        }
        for unit, fen in paid.items():
            ok(acc.post(f"{base}/payments", json={"unit_id": unit, "amount_fen": fen}))
        for source, days in (("parking", (3, 4, 5)), ("parking", (6, 7)), ("advertising", (1,))):
            items = [
                {
                    "description": f"{period}-{d:02d} 收入",
                    "amount_fen": 10_000 + d * 137,
                    "occurred_on": f"{period}-{d:02d}",
                }
                for d in days
            ]
            entry = ok(
                acc.post(
                    f"{base}/ledger/entries",
                    json={
                        "source": source,
                        "amount_fen": sum(i["amount_fen"] for i in items),
                        "description": f"{source} {period}",
                        "items": items,
                    },
                )
            )
            posted.setdefault(source, []).append(entry)
        sha = ok(upload(acc, world.estate_a, png(period), "image/png", kind="invoice"))["sha256"]
        asked = ok(
            acc.post(
                f"{base}/disbursements",
                json={
                    "amount_fen": 52_300,
                    "payee": "成都锦城保洁服务有限公司",
                    "purpose": f"{period} 保洁",
                    "expense_code": "5002",
                    "voucher_sha256": [sha],
                },
            )
        )
    with world.client("committee_member") as member:
        ok(
            member.post(
                f"{base}/disbursements/{asked['disbursement_id']}/approvals",
                json={"totp": totp("committee_member")},
            )
        )
    with world.client("company_accountant") as acc:
        paid_out = ok(
            acc.post(
                f"{base}/disbursements/{asked['disbursement_id']}/payment",
                json={"bank_evidence": "BANK-REF-REPORT"},
            )
        )
        rate = ok(acc.get(f"{base}/fees/payment-rate", params={"period": period}))

    # Figures computed here, from what was posted.
    income_by_source = {
        "property_fee": sum(assessed.values()),
        **{s: sum(e["lines"][0]["amount_fen"] for e in es) for s, es in posted.items()},
    }
    collected = sum(min(paid.get(u, 0), a) for u, a in assessed.items())
    fully = sum(1 for u, a in assessed.items() if paid.get(u, 0) >= a)

    with world.client("owner") as owner:
        got = eventually(
            lambda: (
                (r := report(owner, world.estate_a, period))["disbursements"]
                and r["disbursements"][0]["state"] == "posted"
                and r["fees"]["collected_fen"] == collected
                and r
            ),
            what="disclosure catching up with the month",
        )
    assert got["estate"]["estate_id"] == world.estate_a and got["period"] == period
    assert {g["source"]: g["amount_fen"] for g in got["income"]} == income_by_source
    parking = next(g for g in got["income"] if g["source"] == "parking")
    assert [len(e["items"]) for e in parking["entries"]] == [3, 2]
    assert not parking["lump_sum"]
    (cleaning,) = got["expenses"]
    assert (cleaning["account"], cleaning["name"], cleaning["amount_fen"]) == (
        "5002",
        "保洁费用",
        52_300,
    )
    assert cleaning["entries"][0]["vouchers"] == [sha]
    assert cleaning["entries"][0]["entry_id"] == paid_out["entry_id"]
    fund = got["fund"]
    assert fund["income_fen"] == sum(income_by_source.values())
    assert fund["expense_fen"] == 52_300 + got["remuneration"]["accrued_fen"]
    assert fund["closing_fen"] - fund["opening_fen"] == (
        collected + sum(income_by_source[s] for s in posted) - 52_300
    )
    f = got["fees"]
    assert (f["assessed_fen"], f["collected_fen"]) == (sum(assessed.values()), collected)
    assert (f["units_assessed"], f["units_paid"]) == (len(assessed), fully)
    assert f["payment_rate_amount"] == percent(Fraction(collected, sum(assessed.values())))
    assert f["payment_rate_amount"] == rate["by_amount_percent"] + "%"
    assert f["payment_rate_units"] == rate["by_units_percent"] + "%"
    assert got["state"] == "open" and got["head"] is None
    assert got["record_url"].endswith(f"/reports/monthly/{period}")
    # A normal month: itemised income, vouchers, nothing unreconciled or overdue.
    assert got["flags"] == [], got["flags"]
    assert today.startswith(period)

    # Downloads: CSV for spreadsheets, the PDF and the printable notice.
    with world.client("owner") as owner:
        url = f"{base}/reports/monthly/{period}"
        csv_file = owner.get(url, params={"format": "csv"})
        assert csv_file.headers["content-type"].startswith("text/csv")
        assert csv_file.content.startswith(b"\xef\xbb\xbf")
        assert "保洁费用" in csv_file.content.decode("utf-8-sig")
        for kind in ("pdf", "notice"):
            pdf = owner.get(url, params={"format": kind})
            assert pdf.headers["content-type"] == "application/pdf"
            assert pdf.content.startswith(b"%PDF")
            assert f"report-{period}" in pdf.headers["content-disposition"]

    # Replay: the read models dropped and rebuilt from the emitters' logs give the same report.
    with world.client("owner") as owner:
        assert owner.post(f"{base}/disclosure/rebuild").status_code == 403
    with world.client("operator") as op:
        replayed = ok(op.post(f"{base}/disclosure/rebuild"))["replayed"]
    assert replayed["ledger"] > 10 and replayed["identity"] > 0
    with world.client("owner") as owner:
        again = report(owner, world.estate_a, period)
    assert {**again, "generated_at": ""} == {**got, "generated_at": ""}


def test_the_pilots_parking_case_raises_its_flags_until_explained_and_corrected(
    world: World,
) -> None:
    base = f"/api/v1/estates/{world.estate_b}"
    months = [month_of(-3), month_of(-2), month_of(-1)]
    flat: dict[str, str] = {}
    with world.as_token(world.other_company_token) as manager:
        for m in months:
            # The company posts parking as one round sum, the same every month.
            flat[m] = ok(
                manager.post(
                    f"{base}/ledger/entries",
                    json={
                        "source": "parking",
                        "amount_fen": 240_000,
                        "description": f"{m} 停车收入（包干）",
                        "booked_on": f"{m}-28",
                    },
                )
            )["entry_id"]
        # The gates took over 10,000 yuan in the last of those months.
        days = (datetime.fromisoformat(f"{month_of()}-01") - timedelta(days=1)).day
        export = "日期,车次,金额\n" + "".join(
            f"{months[-1]}-{d:02d},52,{350 + d:.2f}\n" for d in range(1, days + 1)
        )
        ok(
            manager.post(
                f"{base}/takings-imports",
                params={"source": "parking", "profile": "gate-daily", "filename": "gate.csv"},
                content=export.encode(),
                headers={"content-type": "text/csv"},
            )
        )
    last = months[-1]
    with world.as_token(world.owner_b_token) as owner:
        got = eventually(
            lambda: (
                (r := report(owner, world.estate_b, last))["flags"]
                and {"takings_below_recorded", "flat_income"} <= {x["kind"] for x in r["flags"]}
                and r
            ),
            what="the month's flags",
        )
    kinds = {x["kind"]: x for x in got["flags"]}
    assert set(kinds) == {"lump_sum_income", "flat_income", "takings_below_recorded"}
    assert kinds["lump_sum_income"]["entry_ids"] == [flat[last]]
    assert "2,400.00" in kinds["flat_income"]["reason"]
    assert all(x["state"] == "open" for x in got["flags"])
    flag_id = kinds["flat_income"]["flag_id"]
    with world.as_token(world.owner_b_token) as owner:
        refused = owner.post(
            f"{base}/flags/{flag_id}/explanation", json={"explanation": "没有问题"}
        )
        assert refused.status_code == 403
    with world.as_token(world.other_company_token) as manager:
        explained = ok(
            manager.post(
                f"{base}/flags/{flag_id}/explanation",
                json={
                    "explanation": "停车场按包干价交付，2,400 元为旧合同约定，下月起按道闸明细入账"
                },
            )
        )
    assert explained["state"] == "explained" and explained["explained_by"]
    with world.as_token(world.owner_b_token) as owner:
        listed = {x["flag_id"]: x for x in ok(owner.get(f"{base}/flags"))}
        assert listed[flag_id]["explanation"].startswith("停车场按包干价交付")
        # A month that varies has no flat-income flag; the first month alone is not "flat".
        first = report(owner, world.estate_b, months[0])
        assert "flat_income" not in {x["kind"] for x in first["flags"]}

    # The company reverses the round sum and posts what the gates took, day by day.
    takings = {f"{last}-{d:02d}": (350 + d) * 100 for d in range(1, days + 1)}
    with world.as_token(world.other_company_token) as manager:
        ok(
            manager.post(
                f"{base}/ledger/entries/{flat[last]}/reversal",
                json={"reason": "包干数不是实收，改按道闸明细入账"},
            )
        )
        itemised = ok(
            manager.post(
                f"{base}/ledger/entries",
                json={
                    "source": "parking",
                    "amount_fen": sum(takings.values()),
                    "description": f"{last} 停车收入（道闸明细）",
                    "booked_on": max(takings),
                    "items": [
                        {"description": f"{day} 道闸", "amount_fen": fen, "occurred_on": day}
                        for day, fen in takings.items()
                    ],
                },
            )
        )
        check = ok(manager.get(f"{base}/takings-checks", params={"from": last, "to": last}))[
            "checks"
        ]
    assert [(c["source"], c["posted_fen"], c["flag"]) for c in check] == [
        ("parking", sum(takings.values()), None)
    ]
    with world.as_token(world.owner_b_token) as owner:
        fixed = eventually(
            lambda: (
                (r := report(owner, world.estate_b, last))["flags"]
                and all(x["state"] == "resolved" for x in r["flags"])
                and r
            ),
            what="the month's flags resolving",
        )
        standing = {x["flag_id"] for x in ok(owner.get(f"{base}/flags"))}
    states = {x["kind"]: x for x in fixed["flags"]}
    assert set(states) == {"lump_sum_income", "flat_income", "takings_below_recorded"}
    # The explanation stays on record beside the resolved flag.
    assert states["flat_income"]["explanation"].startswith("停车场按包干价交付")
    assert not standing & {x["flag_id"] for x in fixed["flags"]}
    parking = next(g for g in fixed["income"] if g["source"] == "parking")
    assert itemised["entry_id"] in [e["entry_id"] for e in parking["entries"]]


def test_kpis_are_computed_from_the_months_against_the_baseline_recorded_on_joining(
    world: World,
) -> None:
    period = month_of()
    base = f"/api/v1/estates/{world.estate_a}"
    with world.client("community_supervisor") as community:
        ok(
            community.post(
                f"{base}/onboarding",
                json={
                    "working_group": [{"name": "张书记", "affiliation": "社区党委"}],
                    "situation": {"arrangement": "lump_sum"},
                    "baseline": {
                        "payment_rate_permille": 420,
                        "open_disputes": 6,
                        "satisfaction_permille": 310,
                    },
                },
            )
        )
    with world.client("owner") as owner:
        fees = report(owner, world.estate_a, period)["fees"]
        mine = eventually(
            lambda: (
                (k := ok(owner.get(f"{base}/kpis", params={"months": 2})))["baseline"][
                    "payment_rate"
                ]
                and k
            ),
            what="the baseline reaching disclosure",
        )
        assert owner.get("/api/v1/kpis").status_code == 403
        assert owner.get(f"/api/v1/communities/{world.community_a}/kpis").status_code == 403
    assert mine["scope"] == {"estate_id": world.estate_a}
    assert mine["baseline"] == {
        "estates_with_baseline": 1,
        "payment_rate": "42.00",
        "open_disputes": 6,
        "satisfaction": "31.00",
    }
    assert [p["month"] for p in mine["months"]] == [month_of(-1), period]
    now = mine["months"][-1]
    assert (now["assessed_fen"], now["collected_fen"]) == (
        fees["assessed_fen"],
        fees["collected_fen"],
    )
    assert now["payment_rate_amount"] + "%" == fees["payment_rate_amount"]
    assert now["payment_rate_units"] + "%" == fees["payment_rate_units"]
    # The community's figures are its estates' together; the city's, every estate's.
    with world.client("community_supervisor") as community:
        theirs = ok(
            community.get(f"/api/v1/communities/{world.community_a}/kpis", params={"months": 2})
        )
    assert theirs["estates"] == 1 and theirs["months"] == mine["months"]
    with world.client("operator") as op:
        city = ok(op.get("/api/v1/kpis", params={"months": 2}))
    assert city["estates"] >= 2
    assert city["months"][-1]["assessed_fen"] >= now["assessed_fen"]


def test_the_companys_article_943_disclosures_keep_every_version(world: World) -> None:
    base = f"/api/v1/estates/{world.estate_a}/disclosures"
    with world.client("company_accountant") as acc:
        # The manager discloses for the company; the accountant does not.
        assert acc.put(f"{base}/fee_items", json={"content": "x"}).status_code == 403
    with world.client("company_manager") as manager:
        first = ok(manager.put(f"{base}/fee_items", json={"content": "住宅 2.50 元/m²·月"}))
        second = ok(
            manager.put(f"{base}/fee_items", json={"content": "住宅 2.50 元/m²·月；商铺 4.00 元"})
        )
        ok(manager.put(f"{base}/services", json={"content": "保洁、绿化、秩序维护、设施维护"}))
        assert manager.put(f"{base}/secrets", json={"content": "x"}).status_code == 422
    assert (first["version"], second["version"]) == (1, 2)
    with world.client("owner") as owner:
        latest = ok(owner.get(base))
        history = ok(owner.get(base, params={"topic": "fee_items"}))
        assert owner.put(f"{base}/services", json={"content": "x"}).status_code == 403
    # Art. 943's order; the latest version of each; every version of one, newest first.
    assert [(d["topic"], d["version"]) for d in latest] == [("services", 1), ("fee_items", 2)]
    assert [d["content"] for d in history] == [second["content"], first["content"]]


def test_the_months_meetings_are_in_its_report(world: World) -> None:
    starts = datetime.now(UTC) + timedelta(hours=2)
    local = starts.astimezone(SHANGHAI)
    period = f"{local.year:04d}-{local.month:02d}"
    with world.client("committee_chair") as chair:
        meeting = ok(
            chair.post(
                f"/api/v1/estates/{world.estate_a}/meetings",
                json={
                    "title": "物业联席会",
                    "starts_at": starts.isoformat(),
                    "place": "社区活动室",
                    "agenda": ["本月收支", "整改事项"],
                },
            )
        )
    with world.client("owner") as owner:
        got = eventually(
            lambda: report(owner, world.estate_a, period)["meetings"] or None,
            what="the meeting reaching disclosure",
        )
    assert [(m["meeting_id"], m["title"], m["state"]) for m in got] == [
        (meeting["meeting_id"], "物业联席会", "scheduled")
    ]


def test_income_far_below_the_communitys_other_estates_is_flagged_until_posted(
    world: World,
) -> None:
    """Four estates of one new community served by company A: three post their parking takings,
    the fourth a fraction of theirs per unit; only it is flagged, against the others' median."""
    period = month_of()
    tag = uuid.uuid4().hex[:6]
    units = {"甲": 3, "乙": 4, "丙": 5, "丁": 4}
    parking = {"甲": 90_000, "乙": 100_000, "丙": 175_000, "丁": 30_000}
    estates: dict[str, str] = {}
    with world.client("operator") as op:
        district = ok(op.post("/api/v1/districts", json={"name": f"青羊区{tag}"}))
        street = ok(
            op.post(
                "/api/v1/streets",
                json={"district_id": district["district_id"], "name": "草堂街道"},
            )
        )
        community = ok(
            op.post(
                "/api/v1/communities",
                json={"street_id": street["street_id"], "name": "浣花社区"},
            )
        )
        for name, count in units.items():
            estate = ok(
                op.post(
                    "/api/v1/estates",
                    json={"name": f"{name}院{tag}", "community_id": community["community_id"]},
                )
            )["estate_id"]
            estates[name] = estate
            ok(
                op.put(
                    f"/api/v1/estates/{estate}/company",
                    json={"company_id": world.company_a, "starts_on": "2020-01-01"},
                )
            )
            rows = "".join(
                f"1栋,1-{n:02d},residential,80.00,{name}业主{n},person,,\n"
                for n in range(1, count + 1)
            )
            ok(
                op.post(
                    f"/api/v1/estates/{estate}/imports",
                    content=(
                        "building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind,"
                        "phone,id_number\n" + rows
                    ).encode(),
                    headers={"content-type": "text/csv"},
                )
            )
    # The company's people sign in again: their tokens name the estates it serves now.
    with (
        world.as_token(signin(world.base, world.usernames["company_manager"])) as manager,
        world.as_token(signin(world.base, world.usernames["company_accountant"])) as acc,
    ):
        for name, estate in estates.items():
            base = f"/api/v1/estates/{estate}"
            eventually(
                lambda b=base: (
                    manager.get(f"{b}/ledger/accounts").status_code == 200
                    and ok(manager.get(f"{b}/ledger/accounts"))
                ),
                what="the books opening",
            )
            ok(
                manager.put(
                    f"{base}/fees/rates",
                    json={
                        "rates": [
                            {
                                "unit_type": "residential",
                                "fen_per_m2_month": "250",
                                "effective_from": "2020-01",
                            }
                        ]
                    },
                )
            )
            eventually(
                lambda b=base, n=units[name]: ok(acc.get(f"{b}/fees/arrears"))["units_total"] == n,
                what="the ledger learning the units",
            )
            fees = ok(acc.post(f"{base}/fees/assessments", json={"period": period}))["fees"]
            assert len(fees) == units[name]
            ok(
                acc.post(
                    f"{base}/ledger/entries",
                    json={
                        "source": "parking",
                        "amount_fen": parking[name],
                        "description": f"{period} 停车收入",
                        "items": [
                            {
                                "description": "道闸月结",
                                "amount_fen": parking[name],
                                "occurred_on": f"{period}-01",
                            }
                        ],
                    },
                )
            )

    def flags_of(name: str) -> dict[str, dict[str, Any]]:
        with world.client("operator") as op:
            reply = ok(op.get(f"/api/v1/estates/{estates[name]}/flags", params={"period": period}))
        return {f["kind"]: f for f in reply}

    # Computed here: each estate's parking per unit, and the median of the other three.
    per_unit = {name: Fraction(parking[name], units[name]) for name in units}
    others = [per_unit[n] for n in ("甲", "乙", "丙")]
    median = sorted(others)[1]
    assert per_unit["丁"] < median / 3 and all(
        per_unit[n] >= sorted(v for m, v in per_unit.items() if m != n)[1] / 3
        for n in ("甲", "乙", "丙")
    )

    def yuan_of(value: Fraction) -> str:
        fen = int(value + Fraction(1, 2))
        return f"{fen // 100:,}.{fen % 100:02d}"

    flagged = eventually(
        lambda: flags_of("丁").get("income_below_peers"), what="the estate compared with peers"
    )
    assert flagged["state"] == "open"
    assert flagged["reason"] == (
        f"parking 收入每户 {yuan_of(per_unit['丁'])} 元，不到同社区 3 个小区每户中位数 "
        f"{yuan_of(median)} 元的三分之一"
    )
    assert flagged["flag_id"] == f"below_peers:{period}:parking"
    for name in ("甲", "乙", "丙"):
        assert "income_below_peers" not in flags_of(name), name

    # The rest of the month's takings posted: no longer far below, the flag resolves.
    rest = parking["甲"] * units["丁"] // units["甲"] - parking["丁"]
    with world.as_token(signin(world.base, world.usernames["company_accountant"])) as acc:
        ok(
            acc.post(
                f"/api/v1/estates/{estates['丁']}/ledger/entries",
                json={
                    "source": "parking",
                    "amount_fen": rest,
                    "description": f"{period} 停车收入（补录）",
                    "items": [
                        {
                            "description": "道闸补录",
                            "amount_fen": rest,
                            "occurred_on": f"{period}-02",
                        }
                    ],
                },
            )
        )
    assert Fraction(parking["丁"] + rest, units["丁"]) >= median / 3
    eventually(
        lambda: flags_of("丁")["income_below_peers"]["state"] == "resolved",
        what="the flag resolving",
    )
