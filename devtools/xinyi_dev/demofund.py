"""A year of the demo estate's common fund, made through the REST API by the demo's own people:
fees assessed and paid (on time, late, ahead, never), takings itemised by day, payments out under
dual control confirmed with the committee's authenticator codes, and every past month closed in
order with its head signed by the company and co-signed by the committee on their own devices.
The car park's gate exports are imported beside the bank's statements and the advertising
contract is recorded, so the takings checks have something to compare: in one month the company
posted the parking as a flat 2,400 yuan, as in the Chengdu pilot, and only the gates show it."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import queue
import random
import struct
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
import pyotp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from xinyi_dev.democity import DEMO_PASSWORD, DemoCityError, check_reply

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOTP_STEP = 30  # seconds: one authenticator code per step, and each code is spent once
APPROVERS = ("demo-chair", "demo-committee")
# Fen per m² and month, as the company set them when the estate joined.
RATES = {"residential": Fraction(250), "commercial": Fraction(400), "parking": Fraction(150)}
# At or below 20,000 yuan one committee member approves; above, both.
THRESHOLDS: list[dict[str, int | None]] = [
    {"up_to_fen": 2_000_000, "approvals": 1},
    {"up_to_fen": None, "approvals": 2},
]
BUDGET_LINES = (
    ("staff", "人员费用（秩序维护、保洁、维修工资）", "5001"),
    ("cleaning", "保洁（垃圾清运、化粪池清掏）", "5002"),
    ("greening", "绿化养护", "5003"),
    ("repairs", "维修", "5005"),
    ("utilities", "公区水电", "5006"),
    ("remuneration", "物业服务酬金", "2101"),
)
# The Chengdu pilot's car park: a month's parking posted as a flat sum (包干) of 2,400 yuan
# while the gates took far more. The demo plants it once, in a month that closes.
FLAT_PARKING_FEN = 240_000
_BRANDS = tuple(
    "锦诚蜀信和信安居诚和兴蓉德润恒泰宏远友邻瑞丰正和启明厚德长青万和"[i : i + 2]
    for i in range(0, 32, 2)
)


# -- time and the people's devices ----------------------------------------------------------------
class Clock(Protocol):
    """The time authenticator apps read: the real clock, or in tests the platform's movable one."""

    def now(self) -> float: ...

    def wait_until(self, moment: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.time()

    def wait_until(self, moment: float) -> None:
        delay = moment - time.time()
        if delay > 0:
            time.sleep(delay)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Device:
    """What a demo person's phone holds: the authenticator's secret, the last code it showed (a
    code is accepted once, so the next one waits for the next step), and the key heads are signed
    with (ECDSA P-256, as `services/ledger/sign_head.py` and the web app make). Kept in a file
    readable only by its owner, so a later run finds the same secret and key."""

    def __init__(self, folder: Path, username: str, clock: Clock) -> None:
        self.path = folder / f"{username}.json"
        self.username = username
        self.clock = clock
        self.lock = threading.Lock()
        data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.totp_secret: str | None = data.get("totp_secret")
        self.last_step = int(data.get("last_step", 0))
        pem = data.get("signing_key_pem")
        self._key: ec.EllipticCurvePrivateKey | None = None
        if pem:
            key = serialization.load_pem_private_key(pem.encode(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise DemoCityError(f"{self.path}: the signing key is not an EC P-256 key")
            self._key = key

    def _save(self) -> None:
        data: dict[str, Any] = {"username": self.username, "last_step": self.last_step}
        if self.totp_secret:
            data["totp_secret"] = self.totp_secret
            data["otpauth_uri"] = pyotp.TOTP(self.totp_secret).provisioning_uri(
                name=self.username, issuer_name="Xinyi 信义"
            )
        if self._key is not None:
            data["signing_key_pem"] = self._key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
        os.replace(tmp, self.path)

    # -- the authenticator app
    def remember_totp(self, secret: str) -> None:
        with self.lock:
            self.totp_secret, self.last_step = secret, 0
            self._save()

    def totp_code(self) -> str:
        """A code the server has not seen yet. The server accepts the codes of its current step and
        its neighbours, each once, so a burst may take the previous and next steps and after that
        one code per step: this waits for it."""
        with self.lock:
            assert self.totp_secret, "enrol first"
            now = self.clock.now()
            current = int(now // TOTP_STEP)
            # The previous step only early in the current one, lest it expire on the way.
            earliest = current - 1 if now - current * TOTP_STEP < TOTP_STEP - 5 else current
            step = max(self.last_step + 1, earliest)
            if step > current + 1:
                self.clock.wait_until((step - 1) * TOTP_STEP + 0.5)
            self.last_step = step
            self._save()
            return pyotp.TOTP(self.totp_secret).at(step * TOTP_STEP)

    # -- the signing key
    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        with self.lock:
            if self._key is None:
                self._key = ec.generate_private_key(ec.SECP256R1())
                self._save()
            return self._key

    def public_jwk(self) -> dict[str, str]:
        numbers = self.key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }

    def key_id(self) -> str:
        """RFC 7638 thumbprint: the id the platform gives the key when it is registered."""
        jwk = self.public_jwk()
        canonical = json.dumps(
            {m: jwk[m] for m in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
        )
        return _b64url(hashlib.sha256(canonical.encode()).digest())

    def sign(self, payload_json: str) -> str:
        """ECDSA P-256 with SHA-256 over the head's payload_json, as r || s in base64url."""
        r, s = decode_dss_signature(self.key.sign(payload_json.encode(), ec.ECDSA(hashes.SHA256())))
        return _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


# -- the people, signed in ---------------------------------------------------------------------
def _problem_code(reply: httpx.Response) -> str:
    with suppress(ValueError):
        body = reply.json()
        if isinstance(body, dict):
            return str(body.get("code") or "")
    return ""


_RETRYABLE = {502, 503, 504}


class Person:
    """One demo person's session: signs in when first needed (with an authenticator code once a
    second factor is enrolled), refreshes the token when it expires, and retries what is safe."""

    def __init__(self, url: str, username: str, password: str, device: Device | None) -> None:
        self.username = username
        self.password = password
        self.device = device
        self.client = httpx.Client(base_url=url, timeout=120)
        self.lock = threading.Lock()
        self.token = ""
        self.refresh_token = ""

    def close(self) -> None:
        self.client.close()

    def _take(self, tokens: dict[str, Any]) -> None:
        self.token = str(tokens["access_token"])
        self.refresh_token = str(tokens["refresh_token"])

    def sign_in(self) -> None:
        body: dict[str, str] = {"username": self.username, "password": self.password}
        spent = 0
        for _ in range(40):
            if self.device is not None and self.device.totp_secret:
                body["totp"] = self.device.totp_code()
            reply = self.client.post("/api/v1/auth/token", json=body)
            if reply.status_code == 429:
                # Sign-ins are rate limited per address: wait as told.
                time.sleep(min(10, int(reply.headers.get("Retry-After", "3"))))
                continue
            if _problem_code(reply) == "totp_invalid" and spent < 2:
                spent += 1
                continue  # that step was spent elsewhere: the next code
            check_reply(reply, f"sign in as {self.username}")
            self._take(reply.json())
            return
        raise DemoCityError(f"sign in as {self.username}: still rate limited")

    def renew(self) -> None:
        """A fresh access token now (after the clock moved, before the old one expires)."""
        self._renew(self.token)

    def _renew(self, stale: str) -> None:
        with self.lock:
            if self.token != stale:
                return  # another thread renewed it meanwhile
            if self.refresh_token:
                reply = self.client.post(
                    "/api/v1/auth/refresh", json={"refresh_token": self.refresh_token}
                )
                if reply.is_success:
                    self._take(reply.json())
                    return
            self.sign_in()

    def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        idempotent: bool = False,
        body: dict[str, Any] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: dict[str, str] | None = None,
        allow: Sequence[int] = (),
        what: str = "",
    ) -> httpx.Response:
        """The reply, when it succeeded or its status is in `allow`; else DemoCityError naming
        `what` (or the method and path). GETs and idempotent writes (with an idempotency key, or
        by their nature) are retried on a transport error or an unavailable service; other
        writes are not: they may have happened."""
        if not self.token:
            self._renew("")
        headers = {"Idempotency-Key": key} if key else {}
        if content_type:
            headers["Content-Type"] = content_type
        safe = method == "GET" or key is not None or idempotent
        renewed = False
        for attempt in range(6):
            token = self.token
            try:
                reply = self.client.request(
                    method,
                    path,
                    json=body,
                    content=content,
                    params=params,
                    headers={**headers, "Authorization": f"Bearer {token}"},
                )
            except httpx.TransportError:
                if not safe or attempt == 5:
                    raise
                time.sleep(0.2 * 2**attempt)
                continue
            if reply.status_code == 401 and not renewed:
                self._renew(token)
                renewed = True
                continue
            if reply.status_code in _RETRYABLE and safe and attempt < 5:
                time.sleep(0.2 * 2**attempt)
                continue
            if reply.status_code not in allow:
                check_reply(reply, f"{self.username}: {what or f'{method} {path}'}")
            return reply
        raise DemoCityError(f"{self.username}: {what or f'{method} {path}'}: gave up after retries")

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = self.call(method, path, **kwargs)
        return reply.json() if reply.content else None


# -- the plan: everything that happens in the year, from the seed and the estate's units ----------
@dataclass(frozen=True)
class Unit:
    unit_id: str
    building: str
    number: str
    unit_type: str
    area_centi_m2: int


@dataclass(frozen=True)
class Receipt:
    """A unit's fee payment, as the bank received it."""

    unit_id: str
    received_on: date
    amount_fen: int


@dataclass(frozen=True)
class Takings:
    """Income posted directly, itemised as its source reports it; or, with no items, a lump sum
    of `lump_fen`."""

    key: str
    source: str
    booked_on: date
    description: str
    items: tuple[tuple[str, int, date], ...]
    lump_fen: int = 0

    @property
    def amount_fen(self) -> int:
        return sum(fen for _, fen, _ in self.items) if self.items else self.lump_fen


@dataclass(frozen=True)
class GateDay:
    """A day of the car park's gate system, a row of its daily report (停车场日报表)."""

    day: date
    cars: int
    amount_fen: int


@dataclass(frozen=True)
class Voucher:
    kind: str
    filename: str
    label: str  # printed into the file, so each voucher's bytes are its own
    payroll_totals: tuple[tuple[str, int], ...] = ()

    def content(self) -> bytes:
        return _voucher_png(self.label)


@dataclass(frozen=True)
class Payout:
    """A payment out of the fund: requested by the company, approved by the committee, paid by
    the bank on `paid_on`, which the accountant records with the bank's receipt; a payout without
    `paid_on` is left awaiting the committee."""

    key: str
    period: str
    paid_on: date | None
    amount_fen: int
    payee: str
    purpose: str
    expense_code: str
    budget_line: str
    voucher: Voucher


@dataclass(frozen=True)
class BankDebit:
    """Money the bank took on its own (its account fee), as the statement shows it: held apart
    until the committee ratifies it."""

    key: str
    debited_on: date
    amount_fen: int
    payee: str
    purpose: str
    reference: str


@dataclass(frozen=True)
class Month:
    period: str
    receipts: tuple[Receipt, ...]
    takings: tuple[Takings, ...]
    gate: tuple[GateDay, ...]  # the gate system's days of the month, up to yesterday
    payouts: tuple[Payout, ...]
    bank_debits: tuple[BankDebit, ...]
    closes: bool  # every month before the current one closes
    signed_by_committee: bool  # all but the latest closed one are co-signed


@dataclass(frozen=True)
class YearPlan:
    first: str
    months: tuple[Month, ...]
    fees: dict[str, int]  # unit id -> monthly fee
    opening_fund_fen: int
    opening_maintenance_fen: int
    budgets: dict[int, tuple[tuple[str, str, str, int], ...]]  # year -> (id, name, code, fen)
    agency: str  # the advertising contract's company, paying advert_fen each month
    advert_fen: int

    @property
    def closing(self) -> list[Month]:
        return [m for m in self.months if m.closes]


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def add_months(period: str, count: int) -> str:
    index = int(period[:4]) * 12 + int(period[5:]) - 1 + count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def first_day(period: str) -> date:
    return date(int(period[:4]), int(period[5:]), 1)


def last_day(period: str) -> date:
    return first_day(add_months(period, 1)) - timedelta(days=1)


def today_in_shanghai(clock: Clock) -> date:
    return datetime.fromtimestamp(clock.now(), SHANGHAI).date()


def unit_fee(area_centi_m2: int, rate: Fraction) -> int:
    """Area × rate, rounded half up per unit and month (the ledger's rule)."""
    return _half_up(area_centi_m2 * rate.numerator, 100 * rate.denominator)


def _yuan(value: float) -> int:
    """Whole yuan, in fen."""
    return round(value) * 100


def _receipts(
    seed: int, units: Sequence[Unit], fees: dict[str, int], periods: Sequence[str], today: date
) -> dict[str, list[Receipt]]:
    """Most owners pay each month around their usual day, now and then a month late; some pay
    every few months what they owe (the oldest months settle first), sometimes only half; some pay
    half a year or a year ahead; a few never pay. Every draw happens whatever today is, so a later
    run plans the same year."""
    out: dict[str, list[Receipt]] = {p: [] for p in periods}
    for unit in units:
        fee = fees.get(unit.unit_id, 0)
        if not fee:
            continue
        rng = random.Random(f"{seed}:payer:{unit.building}:{unit.number}")
        roll = rng.random()
        habit = (
            "never"
            if roll < 0.04
            else "ahead"
            if roll < 0.10
            else "late"
            if roll < 0.22
            else "prompt"
        )
        usual = rng.randint(3, 20)
        wait = rng.randint(1, 3)
        balance = 0  # owed minus prepaid
        for period in periods:
            balance += fee
            end = last_day(period).day
            day = min(max(usual + rng.randint(-3, 3), 1), end)
            amount = 0
            if habit == "prompt":
                if rng.random() >= 0.06:
                    amount = balance
            elif habit == "late":
                wait -= 1
                if wait <= 0:
                    half = rng.random() < 0.25
                    amount = balance // 200 * 100 if half else balance
                    wait, day = rng.randint(2, 4), rng.randint(1, end)
            elif habit == "ahead" and balance > 0:
                amount = balance + fee * rng.choice((5, 11))
            on = first_day(period).replace(day=day)
            if amount > 0 and on <= today:
                out[period].append(Receipt(unit.unit_id, on, amount))
                balance -= amount
    return out


def _base_cars(units: int) -> int:
    """Cars paying at the gate on an ordinary weekday."""
    return max(15, units // 3)


def _gate_day(seed: int, day: date, base_cars: int) -> GateDay:
    """What the gates took on a day: the cars that paid and the fees, as the system reports."""
    rng = random.Random(f"{seed}:parking:{day.isoformat()}")
    factor = 1.2 if day.weekday() >= 5 else 1.0
    if day.month == 10 and day.day <= 7:
        factor *= 1.3  # National Day: visitors
    elif day.month == 2:
        factor *= 0.85  # Spring Festival: many away
    cars = max(5, round(base_cars * factor * rng.gauss(1, 0.15)))
    return GateDay(day, cars, _yuan(cars * rng.uniform(6.5, 9.5)))


def _parking_day(seed: int, day: date, base_cars: int) -> tuple[str, int, date]:
    """A day of the gates' takings as an item of the posted income: exactly the gates' figure."""
    gate = _gate_day(seed, day, base_cars)
    return (f"{day:%m-%d} 临时停车 {gate.cars} 车次", gate.amount_fen, day)


def _gate(seed: int, units: int, period: str, today: date) -> tuple[GateDay, ...]:
    """The gate system's days of a month, up to yesterday (a day's total comes once it is over)."""
    start, end = first_day(period), last_day(period)
    days = (start + timedelta(days=d) for d in range(end.day))
    return tuple(_gate_day(seed, d, _base_cars(units)) for d in days if d < today)


def flat_month(periods: Sequence[str]) -> str | None:
    """The month whose parking the company posted as a flat sum: the closed month four before
    the current one (the first, in a shorter year); none when no month closes."""
    closed = periods[:-1]
    return closed[max(0, len(closed) - 4)] if closed else None


def _flat_fen(gate_fen: int) -> int:
    """The flat sum posted: 2,400 yuan, as in Chengdu, when the gates took well above it (the
    check flags a shortfall over a tenth of the takings and over 100 yuan); for a car park too
    small for that, a sum as believable for it: the whole hundreds of yuan in 60% of its takings."""
    if gate_fen >= 2 * FLAT_PARKING_FEN:
        return FLAT_PARKING_FEN
    return max(10_000, gate_fen * 6 // 10 // 10_000 * 10_000)


def _agency(seed: int) -> str:
    """The advertising company renting the gates' and notice boards' ad spaces."""
    return f"成都{random.Random(f'{seed}:takings').choice(_BRANDS)}文化传媒有限公司"


def _advert_fen(units: int) -> int:
    """The advertising contract's monthly rent."""
    return _yuan(round((600 + units * 8) / 100) * 100)


def _takings(
    seed: int, units: int, periods: Sequence[str], today: date, flat: str | None = None
) -> dict[str, list[Takings]]:
    """Parking takings from the gate system by day (a whole month at once, the current month by
    the week; the `flat` month as one sum instead, not itemised), the advertising contract's
    monthly rent, a venue hired now and then, and recycling sold each quarter."""
    base_cars = _base_cars(units)
    agency = _agency(seed)
    advert_fen = _advert_fen(units)
    out: dict[str, list[Takings]] = {p: [] for p in periods}
    for n, period in enumerate(periods):
        month_rng = random.Random(f"{seed}:takings:{period}")
        start, end = first_day(period), last_day(period)
        days = [start + timedelta(days=d) for d in range(end.day)]
        current = n == len(periods) - 1
        weeks = [days[i : i + 7] for i in range(0, len(days), 7)] if current else [days]
        if period == flat and not current and end < today:
            # The company's flat sum for the month, banked and posted as it is: the bank agrees
            # with the books, only the gates' own figures show what was taken.
            taken = sum(_gate_day(seed, d, base_cars).amount_fen for d in days)
            out[period].append(
                Takings(
                    key=f"parking:{period}:{days[0].day:02d}",
                    source="parking",
                    booked_on=end,
                    description=f"{period} 停车收入（包干）",
                    items=(),
                    lump_fen=_flat_fen(taken),
                )
            )
            weeks = []
        for week in weeks:
            if week[-1] >= today:
                continue
            out[period].append(
                Takings(
                    key=f"parking:{period}:{week[0].day:02d}",
                    source="parking",
                    booked_on=week[-1],
                    description=f"{period} 停车场临时停车收费（道闸系统按日导出，"
                    f"{week[0]:%m-%d}至{week[-1]:%m-%d}）",
                    items=tuple(_parking_day(seed, d, base_cars) for d in week),
                )
            )
        advert_day = start.replace(day=5)
        if advert_day <= today:
            out[period].append(
                Takings(
                    key=f"advertising:{period}",
                    source="advertising",
                    booked_on=advert_day,
                    description=f"{period} 道闸及宣传栏广告位租金（{agency}）",
                    items=(
                        (f"{period} 月租（合同 {periods[0][:4]}-GG-01）", advert_fen, advert_day),
                    ),
                )
            )
        venue_day = start.replace(day=month_rng.randint(1, end.day))
        hired = month_rng.random() < 0.35
        use = month_rng.choice(("坝坝宴", "社区文艺活动", "业主生日宴", "兴趣班"))
        venue_fen, recycling_fen = (
            _yuan(month_rng.randint(3, 8) * 100),
            _yuan(month_rng.randint(120, 380)),
        )
        if hired and venue_day <= today:
            out[period].append(
                Takings(
                    key=f"venue:{period}",
                    source="venue",
                    booked_on=venue_day,
                    description=f"活动室及院坝场地使用费（{use}）",
                    items=((f"{venue_day:%m-%d} {use}", venue_fen, venue_day),),
                )
            )
        recycling_day = end
        if start.month % 3 == 0 and recycling_day < today:
            out[period].append(
                Takings(
                    key=f"other:{period}",
                    source="other",
                    booked_on=recycling_day,
                    description="废品回收收入（纸板、金属）",
                    items=((f"{period} 季度废品回收", recycling_fen, recycling_day),),
                )
            )
    return out


def _half_up(numerator: int, denominator: int) -> int:
    whole, rest = divmod(numerator, denominator)
    return whole + (2 * rest >= denominator)


def _remuneration(receipts: Sequence[Receipt], takings: Sequence[Takings]) -> int:
    """What accrues to the company in a month: a tenth of the income the contract names (fees
    received and parking), on the month's total, rounded once."""
    income = sum(r.amount_fen for r in receipts)
    income += sum(t.amount_fen for t in takings if t.source == "parking")
    return _half_up(income, 10)


_REPAIRS = (
    ("{b}屋面漏水修补", "成都{c}建筑工程有限公司"),
    ("化粪池及排污管道疏通", "成都{c}管道疏通服务部"),
    ("{b}单元门禁更换", "四川{c}智能科技有限公司"),
    ("楼道照明线路检修及灯具更换", "成都{c}电气安装工程有限公司"),
    ("院坝破损路面修补", "成都{c}市政工程有限公司"),
    ("{b}雨水管更换", "成都{c}建筑工程有限公司"),
)
_CODE_OF_LINE = {line: code for line, _, code in BUDGET_LINES}


def _payouts(
    seed: int,
    units: Sequence[Unit],
    periods: Sequence[str],
    receipts: dict[str, list[Receipt]],
    takings: dict[str, list[Takings]],
) -> dict[str, list[Payout]]:
    """The company's payments: wages each month with the payroll (owners see totals by role),
    common-area electricity each month, refuse collection each quarter, greening in spring and
    autumn, the company's accrued remuneration after each quarter, three repairs in the year (one
    large enough to need both approvers) and, this month, a roof repair awaiting approval."""
    rng = random.Random(f"{seed}:payouts")
    count = len(units)
    guards, cleaners = max(1, round(count / 45)), max(1, round(count / 60))
    buildings = sorted({u.building for u in units if u.unit_type == "residential"}) or ["1栋"]
    accrued = {p: _remuneration(receipts[p], takings[p]) for p in periods}
    company = f"成都{rng.choice(_BRANDS)}物业服务有限公司"
    sanitation = f"成都{rng.choice(_BRANDS)}环境卫生服务有限公司"
    gardener = f"成都{rng.choice(_BRANDS)}园林绿化工程有限公司"
    out: dict[str, list[Payout]] = {p: [] for p in periods}

    def pay(
        period: str,
        day: int,
        what: str,
        line: str,
        fen: int,
        payee: str,
        purpose: str,
        doc: str,
        totals: Sequence[tuple[str, int]] = (),
    ) -> None:
        kind = "payroll" if totals else "invoice"
        out[period].append(
            Payout(
                key=f"{period}:{what}",
                period=period,
                paid_on=first_day(period).replace(day=day),
                amount_fen=fen,
                payee=payee,
                purpose=purpose,
                expense_code=_CODE_OF_LINE[line],
                budget_line=line,
                voucher=Voucher(kind, f"{period}-{doc}.png", f"{what} {period}", tuple(totals)),
            )
        )

    for period in periods[:-1]:
        year, month = int(period[:4]), int(period[5:])
        raised = 150 if year > int(periods[0][:4]) else 0  # wages rise each January
        payroll = [
            ("秩序维护员", guards * _yuan(3200 + raised)),
            ("保洁员", cleaners * _yuan(2900 + raised)),
            ("维修工", _yuan(3800 + raised)),
        ]
        if month == 2:
            payroll.append(("春节值班加班费", (guards + cleaners + 1) * _yuan(300)))
        staff = f"秩序维护员 {guards} 人、保洁员 {cleaners} 人、维修工 1 人"
        wages = sum(fen for _, fen in payroll)
        what = f"{period} 工资（{staff}）"
        pay(period, 15, "payroll", "staff", wages, company, what, "工资表", payroll)
        season = {12: 1.2, 1: 1.25, 2: 1.15, 7: 1.12, 8: 1.15}.get(month, 1.0)
        power = round((300 + count * 6) * season * rng.gauss(1, 0.05) * 100)
        pay(
            period,
            20,
            "power",
            "utilities",
            power,
            "国网四川省电力公司成都供电公司",
            f"{period} 公共区域用电（楼道灯、路灯、水泵）",
            "电费发票",
        )
        if month % 3 == 0:
            fen = _yuan(round((800 + count * 30) / 100) * 100)
            what = f"{year}年第{month // 3}季度垃圾清运及化粪池清掏"
            pay(period, 25, "refuse", "cleaning", fen, sanitation, what, "清运发票")
        if month in (4, 10):
            fen = _yuan(round((2000 + count * 12) / 100) * 100)
            what = f"{year}年{'春' if month == 4 else '秋'}季绿化养护及补植"
            pay(period, 18, "greening", "greening", fen, gardener, what, "绿化养护发票")
        quarter = [p for p in (add_months(period, -k) for k in (3, 2, 1)) if p in accrued]
        if month in (1, 4, 7, 10) and quarter:
            what = f"支付物业服务酬金（{quarter[0]}至{quarter[-1]}，按收入 1/10 计提）"
            fen = sum(accrued[p] for p in quarter)
            pay(period, 10, "remuneration", "remuneration", fen, company, what, "酬金发票")
    chosen = rng.sample(periods[1:-1], min(3, len(periods) - 2))
    for n, (period, (what, who)) in enumerate(
        zip(chosen, rng.sample(_REPAIRS, len(chosen)), strict=True)
    ):
        large = n == 1  # above the threshold: both approvers
        purpose = what.format(b=rng.choice(buildings))
        if large:
            purpose = f"{rng.choice(buildings)}外墙空鼓脱落部位修缮"
        fen = _yuan(rng.randint(210, 280) * 100 if large else rng.randint(6, 58) * 100)
        payee = who.format(c=rng.choice(_BRANDS))
        pay(period, rng.randint(8, 26), "repair", "repairs", fen, payee, purpose, "维修报价单")
    current = periods[-1]
    out[current].append(
        Payout(
            key=f"{current}:repair",
            period=current,
            paid_on=None,
            amount_fen=2_680_000,
            payee=f"成都{rng.choice(_BRANDS)}防水工程有限公司",
            purpose=f"{rng.choice(buildings)}屋面防水层翻新",
            expense_code="5005",
            budget_line="repairs",
            voucher=Voucher("invoice", "屋面防水翻新报价单.png", f"repair quote {current}"),
        )
    )
    for payouts in out.values():
        payouts.sort(key=lambda p: (p.paid_on or date.max, p.key))
    return out


def _budgets(
    periods: Sequence[str], payouts: dict[str, list[Payout]]
) -> dict[int, tuple[tuple[str, str, str, int], ...]]:
    """Each year's budget, line by line: the year's planned payments or the monthly average over
    the months the budget covers, whichever is more, with a tenth in hand, in thousands of yuan."""
    first = periods[0]
    average: dict[str, Fraction] = {}
    for line, _, _ in BUDGET_LINES:
        total = sum(p.amount_fen for ps in payouts.values() for p in ps if p.budget_line == line)
        average[line] = Fraction(total, len(periods) - 1)
    out = {}
    for year in sorted({int(p[:4]) for p in periods}):
        covered = 12 - (int(first[5:]) - 1 if year == int(first[:4]) else 0)
        lines = []
        for line, name, code in BUDGET_LINES:
            planned = sum(
                p.amount_fen
                for ps in payouts.values()
                for p in ps
                if p.budget_line == line and p.period.startswith(f"{year}-")
            )
            need = max(average[line] * covered, Fraction(planned)) * Fraction(11, 10)
            lines.append((line, name, code, -(-need // 100_000) * 100_000))
        out[year] = tuple(lines)
    return out


def _account_fee(period: str) -> BankDebit:
    """This month's account fee, which the bank took on the first and the committee has not
    ratified yet: the approval queue shows both kinds of waiting payment."""
    return BankDebit(
        key=f"bank-debit:{period}",
        debited_on=first_day(period),
        amount_fen=5_000,
        payee="中国建设银行成都分行",
        purpose=f"对公账户管理费（{add_months(period, -1)}）",
        reference=f"对账单 {period}-01 第 1 笔：账户管理费",
    )


@dataclass(frozen=True)
class BankLine:
    """A line of the fund account's statement, as the bank exports it."""

    day: date
    amount_fen: int
    counterparty: str
    reference: str
    narrative: str


# The demo estate's common-fund account at its bank, registered by the committee.
FUND_ACCOUNT = ("5105 0142 6208 0000 7788", "中国建设银行成都锦江支行")


def bank_lines(plan: YearPlan, period: str, today: date, units: Sequence[Unit]) -> list[BankLine]:
    """The account's movements in a month, up to yesterday: every fee payment (each owner pays by
    transfer), every deposit of takings, every payment out on the day the bank made it, and the
    bank's own debits. They are the books' entries seen from the bank, so they reconcile."""
    label = {u.unit_id: f"{u.building}{u.number}" for u in units}
    month = next(m for m in plan.months if m.period == period)
    out = [
        BankLine(
            r.received_on, r.amount_fen, "", f"FEE-{period}-{n:04d}", f"物业费 {label[r.unit_id]}"
        )
        for n, r in enumerate(month.receipts, 1)
    ]
    out += [BankLine(t.booked_on, t.amount_fen, "", t.key, t.description) for t in month.takings]
    out += [
        BankLine(p.paid_on, -p.amount_fen, p.payee, p.key, p.purpose)
        for m in plan.months
        for p in m.payouts
        if p.paid_on and period_of(p.paid_on) == period
    ]
    out += [
        BankLine(d.debited_on, -d.amount_fen, d.payee, d.key, d.purpose) for d in month.bank_debits
    ]
    return sorted((x for x in out if x.day < today), key=lambda x: (x.day, x.reference))


def statement_csv(lines: Sequence[BankLine]) -> bytes:
    """The lines in Xinyi's generic CSV layout (statements/profiles/generic.toml)."""
    rows = [["booking_date", "amount", "counterparty_name", "reference", "narrative", "account"]]
    rows += [
        [
            x.day.isoformat(),
            f"{x.amount_fen / 100:.2f}",
            x.counterparty,
            x.reference,
            x.narrative,
            FUND_ACCOUNT[0].replace(" ", ""),
        ]
        for x in lines
    ]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue().encode()


def _yuan_text(fen: int) -> str:
    return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def gate_csv(days: Sequence[GateDay]) -> bytes:
    """The days as the gate system's daily report, in the layout of the ledger's gate-daily
    takings profile (takings/profiles/gate-daily.toml), ending with the report's 合计 row."""
    rows = [["日期", "车次", "金额"]]
    rows += [[g.day.isoformat(), str(g.cars), _yuan_text(g.amount_fen)] for g in days]
    rows.append(
        ["合计", str(sum(g.cars for g in days)), _yuan_text(sum(g.amount_fen for g in days))]
    )
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue().encode()


def plan_year(seed: int, units: Sequence[Unit], first: str, months: int, today: date) -> YearPlan:
    """The year from `first`: `months` months that close, then the current one."""
    periods = [add_months(first, n) for n in range(months + 1)]
    fees = {
        u.unit_id: unit_fee(u.area_centi_m2, RATES[u.unit_type])
        for u in units
        if u.unit_type in RATES
    }
    fees = {unit: fen for unit, fen in fees.items() if fen > 0}
    receipts = _receipts(seed, units, fees, periods, today)
    # Remuneration accrues on the parking posted, the flat month's flat sum included.
    takings = _takings(seed, len(units), periods, today, flat_month(periods))
    payouts = _payouts(seed, units, periods, receipts, takings)
    rng = random.Random(f"{seed}:opening")
    area = sum(u.area_centi_m2 for u in units)
    return YearPlan(
        first=first,
        months=tuple(
            Month(
                period=p,
                receipts=tuple(receipts[p]),
                takings=tuple(takings[p]),
                gate=_gate(seed, len(units), p, today),
                payouts=tuple(payouts[p]),
                bank_debits=() if n < months else (_account_fee(p),),
                closes=n < months,
                signed_by_committee=n < months - 1,
            )
            for n, p in enumerate(periods)
        ),
        fees=fees,
        opening_fund_fen=_yuan(rng.randint(350, 600) * 100) + rng.randint(0, 9999),
        opening_maintenance_fen=area * rng.randint(28, 42),  # yuan per m², from hundredths
        budgets=_budgets(periods, payouts),
        agency=_agency(seed),
        advert_fen=_advert_fen(len(units)),
    )


# -- vouchers -------------------------------------------------------------------------------------
def _voucher_png(label: str) -> bytes:
    """A small grey PNG standing in for a scanned document (the demo has no real paper); the label
    goes into its text chunk, so each document is a file of its own."""
    width, height = 64, 48
    raw = b"".join(b"\x00" + bytes([0xDD, 0xDD, 0xDD]) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"iTXt", b"Description\x00\x00\x00\x00\x00" + label.encode())
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# -- carrying it out ----------------------------------------------------------------------------
Task = tuple[Payout, str]  # a payment out and its disbursement id


class _Year:
    """One estate's year being made: the people's sessions and devices, the committee's two
    approval workers, the month worker, and the closer that follows it."""

    def __init__(
        self,
        url: str,
        operator_password: str,
        estate_id: str,
        seed: int,
        devices: Path,
        clock: Clock,
        log: Callable[[str], None],
    ) -> None:
        self.url = url
        self.operator_password = operator_password
        self.base = f"/api/v1/estates/{estate_id}"
        self.prefix = f"demofund:{seed}:{estate_id}"
        self.seed = seed
        self.devices = devices
        self.clock = clock
        self.log = log
        self.people: dict[str, Person] = {}
        self.lock = threading.Lock()
        self.enrolled: set[str] = set()
        self.registered: set[str] = set()
        self.gate_files: set[str] | None = None  # sha256 of the gate exports imported
        self.failed = threading.Event()

    def person(self, username: str) -> Person:
        with self.lock:
            if username not in self.people:
                password = self.operator_password if username == "operator" else DEMO_PASSWORD
                device = (
                    Device(self.devices, username, self.clock)
                    if username in (*APPROVERS, "demo-manager")
                    else None
                )
                self.people[username] = Person(self.url, username, password, device)
            return self.people[username]

    def close(self) -> None:
        for p in self.people.values():
            p.close()

    def key(self, what: str) -> str:
        return f"{self.prefix}:{what}"

    # -- the estate as the ledger knows it
    def units(self) -> list[Unit]:
        acc = self.person("demo-accountant")
        units: list[Unit] = []
        cursor = ""
        while True:
            params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
            page = acc.json("GET", f"{self.base}/units", params=params)
            units += [
                Unit(
                    u["unit_id"],
                    u["building"],
                    u["number"],
                    u["unit_type"],
                    u["exclusive_area_centi_m2"],
                )
                for u in page["units"]
            ]
            cursor = page.get("next_cursor") or ""
            if not cursor:
                break
        # The ledger learns the units from identity's events: wait until it knows them all.
        deadline = time.monotonic() + 60
        while acc.json("GET", f"{self.base}/fees/arrears")["units_total"] < len(units):
            if time.monotonic() > deadline:
                raise DemoCityError("the ledger did not learn the estate's units within a minute")
            time.sleep(0.3)
        return sorted(units, key=lambda u: (u.building, u.number))

    def first_period(self, months: int) -> str:
        """The year's first month: the one the contract terms start in, if a run set them
        already (so a later run plans the same year), else `months` before the current one."""
        reply = self.person("operator").call(
            "GET", f"{self.base}/ledger/contract-terms", allow=(404,)
        )
        if reply.status_code == 200:
            return str(reply.json()["effective_from"])[:7]
        return add_months(period_of(today_in_shanghai(self.clock)), -months)

    # -- settings
    def settings(self, plan: YearPlan) -> None:
        op = self.person("operator")
        terms = {
            "ratio": "1/10",
            "fixed_monthly_fen": None,
            "sources": ["parking", "property_fee"],
            "effective_from": f"{plan.first}-01",
        }
        now = op.call("GET", f"{self.base}/ledger/contract-terms", allow=(404,))
        if now.status_code == 404 or {k: now.json().get(k) for k in terms} != terms:
            op.call("PUT", f"{self.base}/ledger/contract-terms", body=terms)
        if op.json("GET", f"{self.base}/ledger/approval-thresholds")["thresholds"] != THRESHOLDS:
            op.call(
                "PUT", f"{self.base}/ledger/approval-thresholds", body={"thresholds": THRESHOLDS}
            )
        manager = self.person("demo-manager")
        if not manager.json("GET", f"{self.base}/fees/rates")["rates"]:
            rates = [
                {"unit_type": t, "fen_per_m2_month": str(r), "effective_from": plan.first}
                for t, r in RATES.items()
            ]
            manager.call("PUT", f"{self.base}/fees/rates", body={"rates": rates})
        for year, lines in plan.budgets.items():
            wanted = [
                {"line_id": i, "name": n, "expense_code": c, "amount_fen": a}
                for i, n, c, a in lines
            ]
            now = manager.call("GET", f"{self.base}/budgets/{year}", allow=(404,))
            have = now.json()["lines"] if now.status_code == 200 else []
            fields = ("line_id", "name", "expense_code", "amount_fen")
            if sorted(tuple(ln[f] for f in fields) for ln in have) != sorted(lines):
                manager.call("PUT", f"{self.base}/budgets/{year}", body={"lines": wanted})
        number, bank = FUND_ACCOUNT
        registered = self.person(APPROVERS[0]).json("GET", f"{self.base}/bank-accounts")
        if not any(a["account"] == "fund" and a["number"] == number for a in registered):
            self.person(APPROVERS[0]).call(
                "PUT",
                f"{self.base}/bank-accounts/fund",
                body={"number": number, "bank_name": bank, "holder": "业主大会（共有资金专户）"},
            )
        self.person("demo-accountant").call(
            "POST",
            f"{self.base}/ledger/opening",
            key=self.key("opening"),
            body={
                "as_of": f"{plan.first}-01",
                "description": "期初余额：原物业服务企业移交的共有资金及维修资金",
                "balances": [
                    {"account_code": "1001", "amount_fen": plan.opening_fund_fen},
                    {"account_code": "1002", "amount_fen": plan.opening_maintenance_fen},
                    {"account_code": "3002", "amount_fen": -plan.opening_maintenance_fen},
                ],
            },
        )

    # -- income
    def income(self, plan: YearPlan, month: Month, pool: ThreadPoolExecutor) -> None:
        acc = self.person("demo-accountant")
        assessed = acc.json("POST", f"{self.base}/fees/assessments", body={"period": month.period})
        for fee in assessed["fees"]:
            if fee["amount_fen"] != plan.fees.get(fee["unit_id"]):
                raise DemoCityError(
                    f"{month.period}: the ledger assessed unit {fee['unit_id']} "
                    f"{fee['amount_fen']} fen, the plan {plan.fees.get(fee['unit_id'])}"
                )
        list(pool.map(lambda r: self.receipt(month.period, r), month.receipts))
        for t in month.takings:
            acc.call(
                "POST",
                f"{self.base}/ledger/entries",
                key=self.key(t.key),
                body={
                    "source": t.source,
                    "amount_fen": t.amount_fen,
                    "description": t.description,
                    "booked_on": t.booked_on.isoformat(),
                    "items": [
                        {"description": d, "amount_fen": a, "occurred_on": o.isoformat()}
                        for d, a, o in t.items
                    ],
                },
            )

    def receipt(self, period: str, r: Receipt) -> None:
        self.person("demo-accountant").call(
            "POST",
            f"{self.base}/payments",
            key=self.key(f"pay:{period}:{r.unit_id}"),
            body={
                "unit_id": r.unit_id,
                "amount_fen": r.amount_fen,
                "received_on": r.received_on.isoformat(),
            },
        )

    # -- payments out
    def upload(self, voucher: Voucher) -> str:
        params = {"kind": voucher.kind, "filename": voucher.filename}
        if voucher.payroll_totals:
            params["payroll_totals"] = json.dumps(dict(voucher.payroll_totals), ensure_ascii=False)
        reply = self.person("demo-accountant").json(
            "POST",
            f"{self.base}/vouchers",
            params=params,
            content=voucher.content(),
            content_type="image/png",
            idempotent=True,  # the same bytes are the same voucher
        )
        return str(reply["sha256"])

    def request(self, payout: Payout) -> str:
        reply = self.person("demo-accountant").json(
            "POST",
            f"{self.base}/disbursements",
            key=self.key(f"request:{payout.key}"),
            body={
                "amount_fen": payout.amount_fen,
                "payee": payout.payee,
                "purpose": payout.purpose,
                "expense_code": payout.expense_code,
                "budget_line_id": payout.budget_line,
                "voucher_sha256": [self.upload(payout.voucher)],
            },
        )
        return str(reply["disbursement_id"])

    def pay(self, payout: Payout, disbursement_id: str) -> None:
        """Records the bank's payment, on the bank's receipt: the expense posts."""
        assert payout.paid_on is not None
        receipt = Voucher("bank", f"{payout.paid_on}-网银回单.png", f"bank receipt {payout.key}")
        self.person("demo-accountant").call(
            "POST",
            f"{self.base}/disbursements/{disbursement_id}/payment",
            key=self.key(f"paid:{payout.key}"),
            body={"bank_evidence": self.upload(receipt), "paid_on": payout.paid_on.isoformat()},
        )

    def second_factor(self, approver: Person) -> None:
        """Enrols the approver's authenticator once; its secret stays on the 'device'."""
        if approver.username in self.enrolled:
            return
        device = approver.device
        assert device is not None
        if approver.json("GET", "/api/v1/me")["totp_enrolled"]:
            if not device.totp_secret:
                raise DemoCityError(
                    f"{approver.username} has an authenticator enrolled whose secret is not in "
                    f"{device.path}; the demo cannot approve as them"
                )
        else:
            device.remember_totp(str(approver.json("POST", "/api/v1/me/totp")["secret"]))
            for attempt in range(4):
                reply = approver.call(
                    "POST",
                    "/api/v1/me/totp/confirm",
                    body={"code": device.totp_code()},
                    allow=(400,),
                )
                if reply.status_code == 400 and attempt < 3:
                    # A movable clock (tests) may have been moved past the code's step by
                    # another approver waiting for theirs while it was on its way: the next
                    # code matches.
                    continue
                check_reply(reply, f"{approver.username}: confirm the authenticator")
                break
        self.enrolled.add(approver.username)

    def approve(self, username: str, payout: Payout, disbursement_id: str) -> bool:
        """One approval, confirmed with a fresh code; whether the payment is now approved."""
        approver = self.person(username)
        assert approver.device is not None
        self.second_factor(approver)
        for attempt in range(4):
            reply = approver.call(
                "POST",
                f"{self.base}/disbursements/{disbursement_id}/approvals",
                body={"totp": approver.device.totp_code()},
                allow=(403,),
            )
            if reply.status_code == 403 and _problem_code(reply) == "totp_invalid" and attempt < 3:
                continue  # the step was spent elsewhere (someone signing in): the next code
            check_reply(reply, f"{username}: approve {payout.purpose}")
            break
        return bool(reply.json()["state"] == "approved")

    def record_bank_debits(self, month: Month) -> None:
        for debit in month.bank_debits:
            self.person("demo-accountant").call(
                "POST",
                f"{self.base}/bank-debits",
                key=self.key(debit.key),
                body={
                    "amount_fen": debit.amount_fen,
                    "debited_on": debit.debited_on.isoformat(),
                    "payee": debit.payee,
                    "purpose": debit.purpose,
                    "bank_evidence": debit.reference,
                },
            )

    def requests(
        self, months: Sequence[Month], pool: ThreadPoolExecutor
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        """The company requests every payment out of the months still open, all now (the
        platform dates a request when it is made); their ids by payout, and how they stand."""
        payouts = [p for m in months for p in m.payouts]
        ids = dict(zip((p.key for p in payouts), pool.map(self.request, payouts), strict=True))
        shown = self.person("demo-accountant").json("GET", f"{self.base}/disbursements")
        return ids, {d["disbursement_id"]: d for d in shown}

    def advertising_contract(self, plan: YearPlan) -> None:
        """Records the advertising contract the agency pays under, from the year's first month
        and open-ended, unless it is recorded already."""
        acc = self.person("demo-accountant")
        recorded = acc.json("GET", f"{self.base}/income-contracts")
        if any(c["source"] == "advertising" and c["counterparty"] == plan.agency for c in recorded):
            return
        acc.call(
            "POST",
            f"{self.base}/income-contracts",
            key=self.key("contract:advertising"),
            body={
                "source": "advertising",
                "counterparty": plan.agency,
                "description": f"道闸及宣传栏广告位租赁（合同 {plan.first[:4]}-GG-01），按月支付",
                "monthly_fen": plan.advert_fen,
                "first_month": plan.first,
                "last_month": None,
            },
        )

    # -- the gates
    def gate_export(self, month: Month) -> None:
        """Imports the car park's daily report of the month up to yesterday, as the accountant
        downloads it from the gate system. The same file is not imported again; days an earlier
        export of the month brought already count as duplicates, not stored twice."""
        if not month.gate:
            return
        acc = self.person("demo-accountant")
        content = gate_csv(month.gate)
        if self.gate_files is None:
            imported = acc.json("GET", f"{self.base}/takings-imports")
            self.gate_files = {i["file_sha256"] for i in imported}
        if hashlib.sha256(content).hexdigest() in self.gate_files:
            return
        first, last = month.gate[0].day, month.gate[-1].day
        reply = acc.json(
            "POST",
            f"{self.base}/takings-imports",
            params={
                "source": "parking",
                "profile": "gate-daily",
                "filename": f"停车场日报表-{first:%Y%m%d}-{last:%Y%m%d}.csv",
            },
            content=content,
            content_type="text/csv",
            idempotent=True,  # the same days again are duplicates
        )
        self.gate_files.add(str(reply["file_sha256"]))

    # -- the bank
    def reconcile(self, plan: YearPlan, month: Month, units: Sequence[Unit]) -> None:
        """Imports the gates' report of the month and the bank's statement (a day or a line seen
        before is not stored twice) and, for a month that closes, confirms each line that more
        than one entry fitted: every line of the demo is one of its entries. The gates do not
        have to agree with the books for the month to close: the takings checks show where not."""
        self.gate_export(month)
        acc = self.person("demo-accountant")
        lines = bank_lines(plan, month.period, today_in_shanghai(self.clock), units)
        if not lines:
            return
        acc.call(
            "POST",
            f"{self.base}/bank-statements",
            params={"account": "fund", "filename": f"对账单-{month.period}.csv"},
            content=statement_csv(lines),
            content_type="text/csv",
            idempotent=True,  # the same lines again are duplicates
        )
        if not month.closes:
            return
        used: set[str] = set()
        cursor = ""
        while True:
            params = {"account": "fund", "state": "open", "limit": "500"}
            page = acc.json(
                "GET",
                f"{self.base}/statement-lines",
                params={**params, **({"cursor": cursor} if cursor else {})},
            )
            for line in page["lines"]:
                if not line["booked_on"].startswith(month.period):
                    continue
                if line["flag"] == "split":
                    body = {"line_ids": [line["line_id"]], "entry_ids": line["proposed_entry_ids"]}
                    acc.call("POST", f"{self.base}/statement-matches", body=body)
                    continue
                free = [e for e in line["proposed_entry_ids"] if e not in used]
                if line["flag"] != "ambiguous" or not free:
                    raise DemoCityError(
                        f"{month.period}: the bank's line of {line['booked_on']} "
                        f"({line['amount_fen']} fen, {line['narrative']}) is {line['flag']}"
                    )
                acc.call(
                    "POST",
                    f"{self.base}/statement-lines/{line['line_id']}/match",
                    body={"entry_id": free[0]},
                )
                used.add(free[0])
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return

    # -- periods
    def close_and_sign(self, month: Month) -> None:
        acc, manager = self.person("demo-accountant"), self.person("demo-manager")
        path = f"{self.base}/periods/{month.period}"
        head = acc.call("GET", f"{path}/head", allow=(404,))
        if head.status_code == 404:
            head = acc.call("POST", f"{path}/close")
        roles = {s["role"] for s in head.json()["signatures"]}
        if "company" not in roles:
            self.sign(manager, month.period, head.json()["payload_json"])
        if month.signed_by_committee and "committee" not in roles:
            self.sign(self.person(APPROVERS[0]), month.period, head.json()["payload_json"])
        cosigned = (
            "co-signed by the committee"
            if month.signed_by_committee
            else "awaiting the committee's co-signature"
        )
        self.log(f"{month.period} closed, signed by the company, {cosigned}")

    def sign(self, signer: Person, period: str, payload_json: str) -> None:
        device = signer.device
        assert device is not None
        if signer.username not in self.registered:
            keys = signer.json("GET", "/api/v1/me/device-keys")["keys"]
            if device.key_id() not in {k["key_id"] for k in keys if not k["revoked_at"]}:
                signer.call(
                    "POST",
                    "/api/v1/me/device-keys",
                    body={"public_jwk": device.public_jwk(), "label": "演示手机"},
                )
            self.registered.add(signer.username)
        signer.call(
            "POST",
            f"{self.base}/periods/{period}/signatures",
            body={"key_id": device.key_id(), "signature": device.sign(payload_json)},
        )

    # -- the whole year
    def run(self, months: int) -> None:
        units = self.units()
        first = self.first_period(months)
        plan = plan_year(self.seed, units, first, months, today_in_shanghai(self.clock))
        self.settings(plan)
        # A closed month is complete: a later run only checks its signatures.
        acc = self.person("demo-accountant")
        open_months = [
            m
            for m in plan.months
            if not m.closes
            or acc.call("GET", f"{self.base}/periods/{m.period}/head", allow=(404,)).status_code
            == 404
        ]
        done = {m.period: threading.Event() for m in plan.months}
        for m in plan.months:
            if m not in open_months:
                done[m.period].set()
        with ThreadPoolExecutor(6) as pool, ThreadPoolExecutor(3) as workers:
            ids, shown = self.requests(open_months, pool)
            # Approvals need no posting, so the committee works through the year at the pace of
            # its codes while the months' entries are made in order; k-of-n: one approval to
            # whoever has approved less, two to both.
            approved: dict[str, threading.Event] = {}
            queues: dict[str, queue.Queue[Task | None]] = {a: queue.Queue() for a in APPROVERS}
            assigned = dict.fromkeys(APPROVERS, 0)
            for payout in (p for m in open_months for p in m.payouts if p.paid_on):
                d = shown[ids[payout.key]]
                approved[payout.key] = threading.Event()
                if d["state"] in ("approved", "posted"):
                    approved[payout.key].set()
                    continue
                if d["state"] != "requested":
                    raise DemoCityError(f"{payout.purpose}: the disbursement is {d['state']}")
                have = {a["username"] for a in d["approvals"]}
                free = sorted((a for a in APPROVERS if a not in have), key=lambda a: assigned[a])
                for username in free[: d["approvals_required"] - len(have)]:
                    queues[username].put((payout, ids[payout.key]))
                    assigned[username] += 1
            for q in queues.values():
                q.put(None)

            def approvals(username: str) -> None:
                try:
                    while (task := queues[username].get()) is not None and not self.failed.is_set():
                        if self.approve(username, *task):
                            approved[task[0].key].set()
                except BaseException:
                    self.failed.set()
                    raise

            def months_in_order() -> None:
                """Each month's income, then its payments out as the committee approves them,
                so each month's entries follow the previous month's in the chain."""
                try:
                    for m in open_months:
                        self.income(plan, m, pool)
                        self.record_bank_debits(m)
                        for payout in (p for p in m.payouts if p.paid_on):
                            while not approved[payout.key].wait(0.2):
                                if self.failed.is_set():
                                    return
                            if shown[ids[payout.key]]["state"] != "posted":
                                self.pay(payout, ids[payout.key])
                        done[m.period].set()
                except BaseException:
                    self.failed.set()
                    raise

            futures = [workers.submit(approvals, a) for a in APPROVERS]
            futures.append(workers.submit(months_in_order))
            try:
                for m in plan.closing:
                    _wait(done[m.period], futures)
                    self.reconcile(plan, m, units)
                    self.close_and_sign(m)
                for f in futures:
                    f.result()
                # Once every month's rent is posted: recorded before, the contract would flag
                # each month as unpaid meanwhile, and a flag raised is an event for good.
                self.advertising_contract(plan)
                # This month's statement so far: what the accountant has to do today.
                self.reconcile(plan, plan.months[-1], units)
            except BaseException:
                self.failed.set()
                raise


def _wait(event: threading.Event, futures: Sequence[Future[None]]) -> None:
    """Waits for the event, but raises at once what a worker raised."""
    while not event.wait(0.2):
        for f in futures:
            if f.done() and f.exception() is not None:
                f.result()
        if all(f.done() for f in futures) and not event.is_set():
            raise DemoCityError("the workers stopped before the month was complete")


def seed_activity(
    gateway_url: str,
    operator_password: str,
    estate_id: str,
    *,
    devices: Path,
    seed: int = 2019,
    months: int = 12,
    clock: Clock | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> None:
    """A year of the estate's fund, through the API as the demo's own people: `months` closed
    months and the current one. The committee's authenticator secrets and the signers' keys are
    kept in `devices` (one file per person). Idempotency keys and checks before closing and
    signing make a second run change nothing; an interrupted run resumes."""
    year = _Year(
        gateway_url,
        operator_password,
        estate_id,
        seed,
        devices,
        clock or RealClock(),
        log,
    )
    try:
        year.run(months)
    finally:
        year.close()
