"""`make run`: the platform on embedded NATS and PostgreSQL (or DATABASE_URL / NATS_URL), with a
demo city on first start, in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from xinyi_dev import democity, demofund, demojourney, demovoting
from xinyi_dev.platform import Platform
from xinyi_kit.clock import move_clock

DEMO_MARKER = "demo-city.done"
# The owners' voice of the last two months is generated on a clock that starts in the past
# (an assembly needs 15 days' notice) and catches up with the real one; then the file is gone.
DEMO_CLOCK = "demo-clock"
DEMO_VOICE_MARKER = "demo-voice.done"
# Before it, on the same clock: one new estate at each stage of joining the trust model.
DEMO_JOURNEY_MARKER = "demo-journey.done"
# Where the demo people's "phones" keep their authenticator secrets and signing keys.
DEMO_DEVICES = "demo-devices"


def _port() -> int:
    raw = os.environ.get("XINYI_HTTP_PORT", "8080")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SystemExit(f"configuration error: XINYI_HTTP_PORT must be a port number, got {raw!r}")
    return int(raw)


def main() -> None:
    data_dir = Path(os.environ.get("XINYI_DATA_DIR", ".run")).resolve()
    clock_file = data_dir / DEMO_CLOCK
    voice_marker = data_dir / DEMO_VOICE_MARKER
    journey_marker = data_dir / DEMO_JOURNEY_MARKER
    data_dir.mkdir(parents=True, exist_ok=True)
    if voice_marker.exists() or (data_dir / DEMO_MARKER).exists():
        clock_file.unlink(missing_ok=True)
    else:
        move_clock(clock_file, -_clock_start_days(journey_marker) * demovoting.DAY)
    platform = Platform(
        data_dir=data_dir,
        http_port=_port(),
        database_url=os.environ.get("DATABASE_URL") or None,
        nats_url=os.environ.get("NATS_URL") or None,
        bootstrap_password=os.environ.get("XINYI_BOOTSTRAP_PASSWORD") or None,
        extra_env={"XINYI_ENV": "demo", "XINYI_TEST_CLOCK_FILE": str(clock_file)},
    )
    stopped = threading.Event()

    def shutdown(*_: object) -> None:
        if stopped.is_set():
            return
        stopped.set()
        # Further signals must not interrupt the orderly stop.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("xinyi: stopping every process ...", flush=True)
        platform.stop()
        print("xinyi: stopped", flush=True)

    atexit.register(shutdown)
    wake = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: wake.set())
    signal.signal(signal.SIGTERM, lambda *_: wake.set())

    try:
        platform.start()
    except Exception as exc:
        print(f"xinyi: could not start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None

    password_file = platform.data_dir / "identity" / "operator-password"
    password = platform.operator_password
    marker = platform.data_dir / DEMO_MARKER
    devices = platform.data_dir / DEMO_DEVICES
    if not marker.exists():
        estates = democity.seed(platform.gateway_url, password)
        if not voice_marker.exists() and not journey_marker.exists():
            _demo_journey(
                platform.gateway_url,
                password,
                estates[0],
                devices,
                journey_marker,
                lambda seconds: move_clock(clock_file, seconds),
            )
        if not voice_marker.exists():
            print("xinyi: demo city: two months of the first estate's assemblies ...", flush=True)
            try:
                demovoting.seed_voice(
                    platform.gateway_url,
                    password,
                    estates[0],
                    lambda seconds: move_clock(clock_file, seconds),
                )
                voice_marker.touch()
            except Exception as exc:
                print(f"xinyi: demo city: the assemblies stopped ({exc})", file=sys.stderr)
            finally:
                clock_file.unlink(missing_ok=True)
        threading.Thread(
            target=_demo_year,
            args=(platform.gateway_url, password, estates, devices, marker, stopped),
            daemon=True,
        ).start()
    accounts = "\n".join(
        f"  {a.username:<16} {a.role:<22} {a.display_name}" for a in democity.DEMO_ACCOUNTS
    )
    print(
        f"\nxinyi is running at {platform.gateway_url}  (Ctrl-C stops it)\n"
        f"  operator         password in {password_file}\n"
        f"demo accounts (password {democity.DEMO_PASSWORD}):\n{accounts}\n"
        f"  {' and '.join(demofund.APPROVERS)} also give an authenticator code: "
        f"the secrets (otpauth URIs) are in {devices}/\n"
        f"{_journey_note(journey_marker)}",
        flush=True,
    )
    while not wake.wait(1):
        pass
    shutdown()


def _clock_start_days(journey_marker: Path) -> float:
    """How many days back the demo clock starts: the onboarding journey's days, then the owners'
    voice's (once the journey is made, only the voice's)."""
    journey = 0 if journey_marker.exists() else demojourney.DAYS
    return demovoting.START_DAYS + journey


def _demo_journey(
    gateway_url: str,
    password: str,
    first_estate: str,
    devices: Path,
    marker: Path,
    move: Callable[[float], None],
) -> None:
    """The estates at each onboarding stage. Whatever happens, the clock is left where the
    owners' voice starts; a failure is printed and the platform serves on (a later start does
    not redo it: the journey is made once)."""
    print("xinyi: demo city: an estate at each stage of joining the trust model ...", flush=True)
    try:
        demojourney.seed_journey(
            gateway_url,
            password,
            first_estate,
            move,
            devices=devices,
            ends_days_ago=demovoting.START_DAYS,
            log=lambda line: print(f"xinyi: demo city: {line}", flush=True),
        )
        marker.write_text("\n".join(f"{e.name}\t{e.stage}" for e in demojourney.ESTATES) + "\n")
    except Exception as exc:
        print(f"xinyi: demo city: the onboarding journey stopped ({exc})", file=sys.stderr)


def _journey_note(marker: Path) -> str:
    """The journey's people, once it is made."""
    if not marker.exists():
        return ""
    estates = demojourney.ESTATES
    return (
        f"  {estates[0].name} … {estates[-1].name}: an estate at each onboarding stage, seen "
        f"by {demojourney.COMMUNITY};\n"
        f"    in estate <n> the self-governance group's leader is demo-j<n>a (from 2 on), "
        f"owners demo-j<n>b … demo-j<n>e\n"
    )


def _demo_year(
    gateway_url: str,
    password: str,
    estates: list[str],
    devices: Path,
    marker: Path,
    stopped: threading.Event,
) -> None:
    """The first estate's year of fund activity, while the platform already serves: every payment
    out waits for a fresh authenticator code of a committee member (one per 30 s each), so the
    year takes minutes. An interrupted year resumes on the next start."""
    started = time.monotonic()
    print("xinyi: demo city: filling in a year of the first estate's fund ...", flush=True)
    try:
        demofund.seed_activity(
            gateway_url,
            password,
            estates[0],
            devices=devices,
            log=lambda line: print(f"xinyi: demo city: {line}", flush=True),
        )
    except Exception as exc:
        if not stopped.is_set():
            print(
                f"xinyi: demo city: the year stopped ({exc}); the next start resumes it",
                file=sys.stderr,
                flush=True,
            )
        return
    marker.write_text("\n".join(estates) + "\n")
    print(
        f"xinyi: demo city created ({len(estates)} estates, the first with a year of fund "
        f"activity, made in {time.monotonic() - started:.0f} s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
