"""The identity service's CSV import: whole-file validation, owner identity, and diffs."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyi_identity.imports import (
    COLUMNS_DOC,
    MAX_DETAIL_LINES,
    MAX_PROBLEMS,
    NOT_UTF8,
    ChangeSet,
    Holdings,
    ImportRejected,
    OwnerRow,
    Problem,
    Transfer,
    UnitKey,
    UnitRow,
    diff,
    parse,
)

HEADER = "building,unit,unit_type,exclusive_area_m2,owner_name,owner_kind,phone,id_number"
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"


def resident_id(first17: str) -> str:
    """A valid ID number, computed here independently of the module under test."""
    return first17 + CHECK[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


ID_A = resident_id("11010519491231002")
ID_B = resident_id("51010719850615123")


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return "\n".join([header, *lines]).encode()


def problems_of(data: bytes, **kwargs: int) -> list[Problem]:
    with pytest.raises(ImportRejected) as rejected:
        parse(data, **kwargs)
    return rejected.value.problems


def only_problem(data: bytes, **kwargs: int) -> Problem:
    problems = problems_of(data, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


GOOD = "3栋,2-301,residential,89.5,张三,person,13800138000,"


# --- valid files ------------------------------------------------------------------------------


def test_known_ids_pass_the_checksum() -> None:
    assert ID_A == "11010519491231002X"  # the example printed in GB 11643-1999 itself
    assert ID_B[17] != "X"
    lowercase = parse(csv_bytes(f"1,103,residential,50,丙,person,,{ID_A.lower()}"))
    assert lowercase.owners[f"id:{ID_A}"].id_number == ID_A
    rows = [
        f"1,101,residential,50,甲,person,,{ID_A}",
        f"1,102,residential,50,乙,person,,{ID_B}",
    ]
    holdings = parse(csv_bytes(*rows))
    assert set(holdings.owners) == {f"id:{ID_A}", f"id:{ID_B}"}
    assert holdings.owners[f"id:{ID_A}"].id_number == ID_A


def test_chinese_header_and_values_with_bom_in_any_order() -> None:
    header = "业主, 楼栋 ,房号,专有面积,类型,业主类型,电话,证件号"
    rows = [
        f"张三,3栋,2-301,89.5,住宅,个人,+86 138-0013-8000,{ID_A}",
        "成都某某有限公司,3栋,1-01,120.25,商铺,企业,,",
    ]
    data = "\ufeff".encode() + csv_bytes(*rows, header=header)
    holdings = parse(data)
    assert holdings.units == {
        ("3栋", "2-301"): UnitRow("3栋", "2-301", "residential", 8950),
        ("3栋", "1-01"): UnitRow("3栋", "1-01", "commercial", 12025),
    }
    assert holdings.owners[f"id:{ID_A}"] == OwnerRow(
        f"id:{ID_A}", "person", "张三", "13800138000", ID_A
    )
    assert holdings.owners["org:成都某某有限公司"].kind == "organisation"


def test_every_alias_is_recognised() -> None:
    header = "BUILDING,Unit,Unit_Type,Exclusive_Area_M2,Owner_Name,OWNER_KIND"
    rows = [
        "1,1,住宅,1,a,个人",
        "1,2,商业,1,b,单位",
        "1,3,商铺,1,c,企业",
        "1,4,车位,1,d,开发商",
        "1,5,其他,1,e,开发企业",
        "1,6,Parking,1,f,Organization",
        "1,7,OTHER,1,g,Developer",
    ]
    holdings = parse(csv_bytes(*rows, header=header))
    types = [holdings.units[("1", str(n))].unit_type for n in range(1, 8)]
    assert types == [
        "residential",
        "commercial",
        "commercial",
        "parking",
        "other",
        "parking",
        "other",
    ]
    assert {key: owner.kind for key, owner in holdings.owners.items()} == {
        "name:a": "person",
        "org:b": "organisation",
        "org:c": "organisation",
        "org:d": "developer",
        "org:e": "developer",
        "org:f": "organisation",
        "org:g": "developer",
    }


def test_co_owners_share_a_unit_and_developer_rows_hold_unsold_units() -> None:
    rows = [
        f"3栋,2-301,residential,89.5,张三,person,,{ID_A}",
        "3栋,2-301,residential,89.50,李四,person,139 0000 0000,",
        "3栋,2-302,residential,89.5,某某置业有限公司,developer,,",
        "3栋,2-303,residential,89.5,某某置业有限公司,developer,,",
    ]
    holdings = parse(csv_bytes(*rows))
    assert holdings.holders[("3栋", "2-301")] == {f"id:{ID_A}", "phone:13900000000"}
    assert holdings.holders[("3栋", "2-302")] == {"org:某某置业有限公司"}
    assert holdings.owners["org:某某置业有限公司"].kind == "developer"
    assert len(holdings.owners) == 3


def test_owner_keys_prefer_id_then_phone_then_name() -> None:
    rows = [
        f"1,1,residential,1,张三,person,13800138000,{ID_A}",
        "1,2,residential,1,张三,person,13800138000,",
        "1,3,residential,1,张三,person,,",
        "1,4,residential,1,张三,organisation,13800138000,",
    ]
    holdings = parse(csv_bytes(*rows))
    assert sorted(holdings.owners) == [
        f"id:{ID_A}",
        "name:张三",
        "org:张三",
        "phone:13800138000",
    ]


def test_a_phone_on_any_row_counts_for_the_owner() -> None:
    rows = [
        f"1,1,residential,1,张三,person,,{ID_A}",
        f"1,2,residential,1,张三,person,13800138000,{ID_A}",
        f"1,3,residential,1,张三,person,,{ID_A}",
    ]
    assert parse(csv_bytes(*rows)).owners[f"id:{ID_A}"].phone == "13800138000"


def test_blank_lines_quotes_crlf_and_spreadsheet_padding_are_tolerated() -> None:
    text = (
        HEADER + ",,\r\n"
        "\r\n"
        ",,,,,,,,,\r\n"
        '"3栋","2-301",residential," 89.5 ","张, 三",person,,,\r\n'
        "   \r\n"
    )
    holdings = parse(text.encode())
    assert holdings.owners == {"name:张, 三": OwnerRow("name:张, 三", "person", "张, 三", "", "")}
    assert holdings.units[("3栋", "2-301")].area_centi_m2 == 8950


def test_blank_lines_do_not_shift_line_numbers() -> None:
    problem = only_problem(csv_bytes(GOOD, "", "", "3栋,2-302,villa,89.5,李四,person,,"))
    assert (problem.line, problem.column) == (5, "unit_type")


def test_the_format_documentation_names_every_column() -> None:
    for name in ("building", "unit_type", "exclusive_area_m2", "owner_kind", "phone", "证件号"):
        assert name in COLUMNS_DOC
    assert COLUMNS_DOC.startswith("| column |")


# --- problems -----------------------------------------------------------------------------------

LONG = "很长的名字" * 30

ROW_PROBLEMS = [
    # (id, rows, line, column, message fragment)
    (
        "empty building",
        [",2-301,residential,89.5,张三,person,,"],
        2,
        "building",
        "building is empty",
    ),
    ("empty unit", ["3栋, ,residential,89.5,张三,person,,"], 2, "unit", "unit is empty"),
    ("empty type", ["3栋,2-301,,89.5,张三,person,,"], 2, "unit_type", "unit_type is empty"),
    ("empty area", ["3栋,2-301,住宅,,张三,person,,"], 2, "exclusive_area_m2", "is empty"),
    ("empty owner", ["3栋,2-301,住宅,89.5,,person,,"], 2, "owner_name", "owner_name is empty"),
    ("empty kind", ["3栋,2-301,住宅,89.5,张三,,,"], 2, "owner_kind", "owner_kind is empty"),
    ("long building", ["x" * 51 + ",1,住宅,1,a,个人,,"], 2, "building", "longer than 50"),
    ("long unit", ["1," + "x" * 51 + ",住宅,1,a,个人,,"], 2, "unit", "longer than 50"),
    ("long name", [f"1,1,住宅,1,{'x' * 101},个人,,"], 2, "owner_name", "longer than 100"),
    ("bad type", ["1,1,villa,1,a,个人,,"], 2, "unit_type", '"villa" is not one of residential'),
    ("bad kind", ["1,1,住宅,1,a,company,,"], 2, "owner_kind", '"company" is not one of person'),
    ("area text", ["1,1,住宅,abc,a,个人,,"], 2, "exclusive_area_m2", '"abc" is not a number'),
    ("area unit", ["1,1,住宅,89.5㎡,a,个人,,"], 2, "exclusive_area_m2", "(no units)"),
    ("area comma", ['1,1,住宅,"1,234",a,个人,,'], 2, "exclusive_area_m2", "is not a number"),
    ("area negative", ["1,1,住宅,-5,a,个人,,"], 2, "exclusive_area_m2", '"-5" is not a number'),
    ("area zero", ["1,1,住宅,0.00,a,个人,,"], 2, "exclusive_area_m2", "more than 0"),
    ("area huge", ["1,1,住宅,100000,a,个人,,"], 2, "exclusive_area_m2", "less than 100000"),
    ("area decimals", ["1,1,住宅,89.555,a,个人,,"], 2, "exclusive_area_m2", "more than 2 decimals"),
    ("phone short", ["1,1,住宅,1,a,个人,12345,"], 2, "phone", '"12345" is not a mobile'),
    ("phone prefix", ["1,1,住宅,1,a,个人,12800138000,"], 2, "phone", "starting 13–19"),
    ("phone long", ["1,1,住宅,1,a,个人,138001380001,"], 2, "phone", "is not a mobile"),
    ("phone landline", ["1,1,住宅,1,a,个人,028-8888 8888,"], 2, "phone", "is not a mobile"),
    ("id short", ["1,1,住宅,1,a,个人,,11010519491231002"], 2, "id_number", "must be 17 digits"),
    ("id chars", ["1,1,住宅,1,a,个人,,11010519491231002Y"], 2, "id_number", "must be 17 digits"),
    (
        "id excel",
        ["1,1,住宅,1,a,个人,,1.10105E+17"],
        2,
        "id_number",
        "format the column as text",
    ),
    (
        "id checksum",
        [f"1,1,住宅,1,a,个人,,{ID_A[:17]}{'9' if ID_A[17] != '9' else '8'}"],
        2,
        "id_number",
        "fails its checksum",
    ),
    ("id for org", [f"1,1,住宅,1,a,企业,,{ID_A}"], 2, "id_number", "for persons only"),
    (
        "duplicate",
        [GOOD, "3栋,2-302,住宅,1,x,个人,,", "3栋,2-301,住宅,89.5,张三,个人,138 0013 8000,"],
        4,
        "owner_name",
        "duplicate row: same unit and owner as line 2",
    ),
    (
        "area disagrees",
        [GOOD, "3栋,2-301,residential,90,李四,person,,"],
        3,
        "exclusive_area_m2",
        "unit 3栋 2-301 has area 89.50 on line 2 but 90.00 here",
    ),
    (
        "type disagrees",
        [GOOD, "3栋,2-301,commercial,89.5,李四,person,,"],
        3,
        "unit_type",
        "unit 3栋 2-301 is residential on line 2 but commercial here",
    ),
    (
        "owner renamed",
        [f"1,1,住宅,1,张三,个人,,{ID_A}", f"1,2,住宅,1,张叁,个人,,{ID_A}"],
        3,
        "owner_name",
        'is named "张三" on line 2 but "张叁" here',
    ),
    (
        "owner kind differs",
        ["1,1,住宅,1,某公司,企业,,", "1,2,住宅,1,某公司,开发商,,"],
        3,
        "owner_name",
        "is a organisation on line 2 but a developer here",
    ),
    (
        "owner phone differs",
        [f"1,1,住宅,1,张三,个人,13800138000,{ID_A}", f"1,2,住宅,1,张三,个人,13900139000,{ID_A}"],
        3,
        "phone",
        "has phone 13800138000 on line 2 but 13900139000 here",
    ),
    (
        "too many owners",
        [f"1,1,住宅,1,业主{n},个人,," for n in range(21)],
        22,
        "owner_name",
        "unit 1 1 has more than 20 owners",
    ),
    ("too few cells", [GOOD, "3栋,2-302,住宅,1,x,个人"], 3, "", "expected 8 cells"),
    ("too many cells", [GOOD + ",extra"], 2, "", "expected 8 cells like the header, found 9"),
    (
        "unclosed quote",
        [GOOD, '3栋,2-302,住宅,1,"x,个人,,', GOOD],
        3,
        "owner_name",
        "closing quote",
    ),
]


@pytest.mark.parametrize(
    ("rows", "line", "column", "fragment"),
    [case[1:] for case in ROW_PROBLEMS],
    ids=[case[0] for case in ROW_PROBLEMS],
)
def test_row_problems(rows: list[str], line: int, column: str, fragment: str) -> None:
    problem = only_problem(csv_bytes(*rows))
    assert (problem.line, problem.column) == (line, column)
    assert fragment in problem.message


HEADER_PROBLEMS = [
    (
        "unknown",
        HEADER + ",备注",
        "备注",
        'unknown column "备注"; the columns are building, unit',
    ),
    (
        "missing",
        "building,unit,unit_type,owner_name,owner_kind",
        "exclusive_area_m2",
        "missing column exclusive_area_m2 (专有面积)",
    ),
    ("twice", HEADER + ",楼栋", "楼栋", "column building appears twice"),
]


@pytest.mark.parametrize(
    ("header", "column", "fragment"),
    [case[1:] for case in HEADER_PROBLEMS],
    ids=[case[0] for case in HEADER_PROBLEMS],
)
def test_header_problems(header: str, column: str, fragment: str) -> None:
    problem = only_problem(csv_bytes(GOOD, header=header))
    assert (problem.line, problem.column) == (1, column)
    assert fragment in problem.message


def test_problems_name_the_column_as_written_in_the_file() -> None:
    header = "楼栋,房号,类型,专有面积,业主,业主类型"
    problem = only_problem(csv_bytes("3栋,2-301,住宅,89.555,张三,个人", header=header))
    assert (problem.line, problem.column) == (2, "专有面积")


def test_a_file_that_is_not_utf8_is_one_problem() -> None:
    data = csv_bytes("3栋,2-301,住宅,89.5,张三,个人,,").decode().encode("gbk")
    assert problems_of(data) == [Problem(0, "", NOT_UTF8)]
    assert "CSV UTF-8" in NOT_UTF8


def test_an_empty_file_needs_a_header() -> None:
    problem = only_problem(b"\xef\xbb\xbf\n\n")
    assert (problem.line, problem.column) == (1, "")
    assert "header" in problem.message


def test_a_value_under_a_blank_header_cell_is_a_problem() -> None:
    header = "building,unit,,unit_type,exclusive_area_m2,owner_name,owner_kind"
    problem = only_problem(csv_bytes("1,1,note,住宅,1,a,个人", header=header))
    assert (problem.line, problem.column) == (2, "")
    assert '"note" in column 3, which has no header' in problem.message


def test_too_many_rows() -> None:
    rows = [f"1,{n},住宅,1,a,个人,," for n in range(3)]
    problem = only_problem(csv_bytes(*rows), max_rows=2)
    assert (problem.line, problem.column) == (4, "")
    assert "too many rows: at most 2" in problem.message
    assert len(parse(csv_bytes(*rows[:2]), max_rows=2).units) == 2


def test_quoted_values_are_truncated_to_40_characters() -> None:
    problem = only_problem(csv_bytes(f"1,1,{LONG},1,a,个人,,"))
    assert f'"{LONG[:40]}…"' in problem.message
    assert LONG[:41] not in problem.message


def test_every_problem_of_the_file_is_reported_and_nothing_is_returned() -> None:
    rows = [
        GOOD,
        "3栋,2-302,villa,abc,李四,person,123,",
        "3栋,2-301,residential,90,王五,person,,",
    ]
    problems = problems_of(csv_bytes(*rows))
    assert [(p.line, p.column) for p in problems] == [
        (3, "unit_type"),
        (3, "exclusive_area_m2"),
        (3, "phone"),
        (4, "exclusive_area_m2"),
    ]


def test_problems_stop_at_500() -> None:
    rows = [f"1,{n},villa,1,a,个人,," for n in range(MAX_PROBLEMS + 100)]
    problems = problems_of(csv_bytes(*rows))
    assert len(problems) == MAX_PROBLEMS
    assert problems[-1].line == MAX_PROBLEMS + 1


# --- diff ---------------------------------------------------------------------------------------

NOTHING = Holdings(units={}, owners={}, holders={})


def test_a_partial_file_leaves_other_units_and_owners_alone() -> None:
    current = parse(csv_bytes(GOOD, "3栋,2-302,住宅,89.5,李四,个人,,", "4栋,1,住宅,50,王五,个人,,"))
    incoming = parse(csv_bytes(GOOD))
    changes = diff(current, incoming)
    assert changes.empty
    assert changes.units_unchanged == 1


def test_an_empty_phone_does_not_erase_a_known_one() -> None:
    current = parse(csv_bytes(f"1,1,住宅,1,张三,个人,13800138000,{ID_A}"))
    incoming = parse(csv_bytes(f"1,1,住宅,1,张三,个人,,{ID_A}"))
    assert diff(current, incoming).empty
    renamed = parse(csv_bytes(f"1,1,住宅,1,张叁,个人,,{ID_A}"))
    old = current.owners[f"id:{ID_A}"]
    assert diff(current, renamed).owners_changed == ((old, replace(old, name="张叁")),)


def test_new_units_carry_their_holders_and_are_not_transfers() -> None:
    current = parse(csv_bytes(GOOD))
    incoming = parse(csv_bytes(GOOD, "5栋,1-101,parking,12.5,李四,个人,,"))
    changes = diff(current, incoming)
    assert changes.buildings_added == ("5栋",)
    assert changes.units_added == (UnitRow("5栋", "1-101", "parking", 1250),)
    assert changes.new_unit_holders == ((("5栋", "1-101"), frozenset({"name:李四"})),)
    assert changes.transfers == ()
    assert changes.owners_added == (OwnerRow("name:李四", "person", "李四", "", ""),)


def test_details_read_like_a_notice() -> None:
    current = parse(csv_bytes(GOOD, "3栋,2-302,住宅,89.5,张三,个人,13800138000,"))
    incoming = parse(
        csv_bytes(
            "3栋,2-301,住宅,89.5,李四,个人,,",
            "3栋,2-302,商铺,90,张三,个人,13800138000,",
            "3栋,2-303,住宅,89.5,张三,个人,13800138000,",
            "3栋,2-303,住宅,89.5,李四,个人,,",
            "9栋,1,车位,12,王五,个人,,",
        )
    )
    changes = diff(current, incoming)
    names = {key: owner.name for key, owner in current.owners.items()}
    assert changes.details(names) == [
        "new building 9栋",
        "new unit 3栋 2-303 (residential, 89.50 m²): 张三, 李四",
        "new unit 9栋 1 (parking, 12.00 m²): 王五",
        "3栋 2-302: type residential → commercial; area 89.50 → 90.00 m²",
        "new owner 李四 (person)",
        "new owner 王五 (person)",
        "3栋 2-301: 张三 → 李四",
    ]


def test_details_keep_phone_and_id_out_and_stop_at_200_lines() -> None:
    current = parse(csv_bytes(f"1,1,住宅,1,张三,个人,13800138000,{ID_A}"))
    incoming = parse(csv_bytes(f"1,1,住宅,1,张三,个人,13900139000,{ID_A}"))
    assert diff(current, incoming).details({}) == ["owner 张三: phone updated"]
    changes = diff(current, replace(incoming, holders={("1", "1"): frozenset({"phone:1"})}))
    assert changes.details({}) == [
        "owner 张三: phone updated",
        "1 1: 张三 → (unnamed owner)",
    ]
    many = parse(csv_bytes(*(f"{n // 10},{n},住宅,1,a,个人,," for n in range(300))))
    lines = diff(NOTHING, many).details({})
    assert len(lines) == MAX_DETAIL_LINES
    assert lines[-1] == f"… and {30 + 300 + 1 - (MAX_DETAIL_LINES - 1)} more changes"


# --- properties ---------------------------------------------------------------------------------

TYPE_WORDS = {
    "residential": ["residential", "住宅"],
    "commercial": ["commercial", "商业", "商铺"],
    "parking": ["parking", "车位"],
    "other": ["other", "其他"],
}
KIND_WORDS = {
    "person": ["person", "个人"],
    "organisation": ["organisation", "单位", "企业"],
    "developer": ["developer", "开发商", "开发企业"],
}
ALIASES = {
    "building": "楼栋",
    "unit": "房号",
    "unit_type": "类型",
    "exclusive_area_m2": "专有面积",
    "owner_name": "业主",
    "owner_kind": "业主类型",
    "phone": "电话",
    "id_number": "证件号",
}


def key_of(kind: str, name: str, phone: str, id_number: str) -> str:
    if kind != "person":
        return f"org:{name}"
    if id_number:
        return f"id:{id_number}"
    return f"phone:{phone}" if phone else f"name:{name}"


def render(holdings: Holdings, rnd: random.Random) -> bytes:
    """Write holdings as a file a person might upload: any header language, order, spelling."""
    columns = list(ALIASES)
    rnd.shuffle(columns)
    rows = []
    for unit_key, unit in holdings.units.items():
        for owner_key in sorted(holdings.holders[unit_key]):
            owner = holdings.owners[owner_key]
            centi = unit.area_centi_m2
            area = f"{centi // 100}.{centi % 100:02d}"
            phone = owner.phone
            if phone and rnd.random() < 0.5:
                phone = rnd.choice([f"+86 {phone}", f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"])
            rows.append(
                {
                    "building": unit.building,
                    "unit": unit.number,
                    "unit_type": rnd.choice(TYPE_WORDS[unit.unit_type]),
                    "exclusive_area_m2": rnd.choice([area, area.rstrip("0").rstrip(".")]),
                    "owner_name": owner.name,
                    "owner_kind": rnd.choice(KIND_WORDS[owner.kind]),
                    "phone": phone,
                    "id_number": rnd.choice([owner.id_number, owner.id_number.lower()]),
                }
            )
    rnd.shuffle(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=rnd.choice(["\n", "\r\n"]))
    writer.writerow([rnd.choice([c, ALIASES[c]]) for c in columns])
    writer.writerows([row[c] for c in columns] for row in rows)
    bom = rnd.choice([b"", b"\xef\xbb\xbf"])
    return bom + out.getvalue().encode()


words = st.text(
    alphabet=st.sampled_from(list("张王李赵陈abcXYZ019 ,\"'-·栋号")), min_size=1, max_size=6
)
trimmed = words.map(str.strip).filter(bool)
phones = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
ids = st.text(alphabet="0123456789", min_size=17, max_size=17).map(resident_id)


@st.composite
def owners(draw: st.DrawFn) -> OwnerRow:
    kind = draw(st.sampled_from(list(KIND_WORDS)))
    name = draw(trimmed)
    phone = draw(st.one_of(st.just(""), phones))
    id_number = draw(st.one_of(st.just(""), ids)) if kind == "person" else ""
    return OwnerRow(key_of(kind, name, phone, id_number), kind, name, phone, id_number)


@st.composite
def holdings(draw: st.DrawFn) -> Holdings:
    people = draw(st.lists(owners(), min_size=1, max_size=6, unique_by=lambda o: o.key))
    keys = [owner.key for owner in people]
    unit_keys: list[UnitKey] = draw(
        st.lists(st.tuples(trimmed, trimmed), min_size=2, max_size=8, unique=True)
    )
    units: dict[UnitKey, UnitRow] = {}
    holders: dict[UnitKey, frozenset[str]] = {}
    for building, number in unit_keys:
        unit_type = draw(st.sampled_from(list(TYPE_WORDS)))
        area = draw(st.integers(1, 9_999_999))
        units[(building, number)] = UnitRow(building, number, unit_type, area)
        held = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=4, unique=True))
        holders[(building, number)] = frozenset(held)
    used = frozenset().union(*holders.values())
    return Holdings(
        units=units,
        owners={owner.key: owner for owner in people if owner.key in used},
        holders=holders,
    )


@settings(deadline=None)
@given(holdings(), st.randoms(use_true_random=False))
def test_rendering_and_parsing_gives_the_holdings_back(h: Holdings, rnd: random.Random) -> None:
    assert parse(render(h, rnd)) == h


@settings(deadline=None)
@given(holdings())
def test_a_reimport_changes_nothing(h: Holdings) -> None:
    changes = diff(h, h)
    assert changes.empty
    assert changes == ChangeSet((), (), (), (), (), (), (), units_unchanged=len(h.units))
    assert changes.details({}) == []


def fresh(taken: set[str], base: str) -> str:
    candidate = base
    while candidate in taken:
        candidate += "+"
    return candidate


@settings(deadline=None)
@given(holdings(), st.randoms(use_true_random=False))
def test_a_modified_file_reports_exactly_its_modifications(h: Holdings, rnd: random.Random) -> None:
    moved, resized = sorted(h.units)[:2]
    newcomer_name = fresh({o.name for o in h.owners.values()}, "新业主")
    newcomer = OwnerRow(f"org:{newcomer_name}", "organisation", newcomer_name, "", "")
    building = fresh({b for b, _ in h.units}, "新楼")
    added = UnitRow(building, "1-101", "parking", 1250)
    added_key = (building, "1-101")
    added_holders = frozenset(sorted(h.owners)[:1])
    old = h.units[resized]
    bigger = replace(old, area_centi_m2=old.area_centi_m2 % 9_999_999 + 1)

    units = {**h.units, resized: bigger, added_key: added}
    holders = {**h.holders, moved: frozenset({newcomer.key}), added_key: added_holders}
    used = frozenset().union(*holders.values())
    everyone = {**h.owners, newcomer.key: newcomer}
    modified = Holdings(
        units=units,
        owners={key: owner for key, owner in everyone.items() if key in used},
        holders=holders,
    )

    changes = diff(h, parse(render(modified, rnd)))
    assert changes == ChangeSet(
        buildings_added=(building,),
        units_added=(added,),
        new_unit_holders=((added_key, added_holders),),
        units_changed=((old, bigger),),
        owners_added=(newcomer,),
        owners_changed=(),
        transfers=(Transfer(moved, h.holders[moved], frozenset({newcomer.key})),),
        units_unchanged=len(h.units) - 2,
    )


def test_ten_thousand_units_parse_and_diff() -> None:
    lines = []
    for n in range(10_000):
        building = f"{n // 200 + 1}栋"
        number = f"{n % 200 // 10 + 1}-{n % 10 + 1:02d}"
        area = f"{60 + n % 90}.{n % 100:02d}"
        if n % 50 == 0:
            lines.append(f"{building},{number},住宅,{area},开发商甲,开发商,,")
            continue
        person_id = resident_id(f"510107198{n:08d}")
        lines.append(f"{building},{number},住宅,{area},业主{n},个人,1380000{n:04d},{person_id}")
        if n % 7 == 0:
            lines.append(f"{building},{number},住宅,{area},配偶{n},个人,,")
    first = parse(csv_bytes(*lines))
    assert len(first.units) == 10_000
    assert diff(first, first).units_unchanged == 10_000
    changes = diff(NOTHING, first)
    assert len(changes.units_added) == 10_000
    assert len(changes.buildings_added) == 50
    assert len(changes.details({})) == MAX_DETAIL_LINES
