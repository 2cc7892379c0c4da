"""Which channels carry a notice to one person, and when: their preferences, quiet hours and
digest, bounded by what cannot be switched off. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from xinyi_notifications.rules import KINDS, LOCAL, SECURITY_KINDS

PERSONAL_CHANNELS = ("inbox", "email", "sms")
DEFAULT_CHANNELS = ("inbox", "email")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True)
class KindSetting:
    channels: tuple[str, ...]
    digest: bool = False


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str = ""
    phone: str = ""
    quiet_start: str = ""
    quiet_end: str = ""
    settings: tuple[tuple[str, KindSetting], ...] = ()

    def setting(self, kind: str) -> KindSetting:
        for name, setting in self.settings:
            if name == kind:
                return setting
        return KindSetting(DEFAULT_CHANNELS)


@dataclass(frozen=True)
class Outward:
    """One delivery beyond the inbox: the channel, its address and when it may go."""

    channel: str
    address: str
    not_before: datetime
    digest: bool


def valid_hhmm(value: str) -> bool:
    return bool(_HHMM.match(value))


def check_kind_setting(kind: str, channels: list[str]) -> str | None:
    """Why a kind's setting is refused, or None."""
    if kind not in KINDS:
        return f"unknown message kind {kind!r}; the kinds are: {', '.join(KINDS)}"
    unknown = [c for c in channels if c not in PERSONAL_CHANNELS]
    if unknown:
        return f"unknown channel {unknown[0]!r}; channels are inbox, email and sms"
    if kind in SECURITY_KINDS and "inbox" not in channels:
        return (
            f"{kind} is security-relevant: it always reaches the inbox and cannot be switched off"
        )
    return None


def effective_channels(kind: str, person: Person) -> tuple[str, ...]:
    channels = person.setting(kind).channels
    if kind in SECURITY_KINDS:
        # Security messages reach the inbox, and also every outward channel the person has:
        # they can be narrowed, never silenced.
        return tuple(dict.fromkeys(("inbox", *channels)))
    return tuple(dict.fromkeys(channels))


def _quiet_until(person: Person, now: datetime) -> datetime | None:
    if not (valid_hhmm(person.quiet_start) and valid_hhmm(person.quiet_end)):
        return None
    start = time.fromisoformat(person.quiet_start)
    end = time.fromisoformat(person.quiet_end)
    if start == end:
        return None
    here = now.astimezone(LOCAL)
    clock = here.time().replace(tzinfo=None)
    inside = (start <= clock < end) if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    day = here.date() if clock < end else here.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=LOCAL)


def next_digest(now: datetime, hour: int) -> datetime:
    """The next daily digest time (local), strictly after now."""
    here = now.astimezone(LOCAL)
    at = datetime.combine(here.date(), time(hour), tzinfo=LOCAL)
    return at if at > here else at + timedelta(days=1)


def outward(
    kind: str, person: Person, available: frozenset[str], now: datetime, digest_hour: int
) -> list[Outward]:
    """The person's deliveries beyond the inbox for a notice of `kind` at `now`."""
    urgent = kind in SECURITY_KINDS
    setting = person.setting(kind)
    out = []
    for channel in effective_channels(kind, person):
        if channel == "inbox" or channel not in available:
            continue
        address = person.email if channel == "email" else person.phone
        if not address:
            continue
        if urgent:
            out.append(Outward(channel, address, now, False))
        elif setting.digest:
            out.append(Outward(channel, address, next_digest(now, digest_hour), True))
        else:
            out.append(Outward(channel, address, _quiet_until(person, now) or now, False))
    return out


def wants_inbox(kind: str, person: Person) -> bool:
    return "inbox" in effective_channels(kind, person)


def backoff(attempts: int, base: float, cap: float = 3600.0) -> timedelta:
    """Wait before the next attempt after `attempts` failures: base, 2 base, 4 base, ..."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))
