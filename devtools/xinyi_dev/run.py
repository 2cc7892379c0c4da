"""`make run`: the platform on embedded NATS and PostgreSQL (or DATABASE_URL / NATS_URL), with a
demo city on first start, in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from pathlib import Path

from xinyi_dev import democity
from xinyi_dev.platform import Platform

DEMO_MARKER = "demo-city.done"


def _port() -> int:
    raw = os.environ.get("XINYI_HTTP_PORT", "8080")
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SystemExit(f"configuration error: XINYI_HTTP_PORT must be a port number, got {raw!r}")
    return int(raw)


def main() -> None:
    data_dir = Path(os.environ.get("XINYI_DATA_DIR", ".run"))
    platform = Platform(
        data_dir=data_dir,
        http_port=_port(),
        database_url=os.environ.get("DATABASE_URL") or None,
        nats_url=os.environ.get("NATS_URL") or None,
        bootstrap_password=os.environ.get("XINYI_BOOTSTRAP_PASSWORD") or None,
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
    if not marker.exists():
        estates = democity.seed(platform.gateway_url, password)
        democity.seed_activity(platform.gateway_url, password, estates[0])
        marker.write_text("\n".join(estates) + "\n")
        print(f"xinyi: demo city created ({len(estates)} estates)", flush=True)
    accounts = "\n".join(
        f"  {a.username:<16} {a.role:<22} {a.display_name}" for a in democity.DEMO_ACCOUNTS
    )
    print(
        f"\nxinyi is running at {platform.gateway_url}  (Ctrl-C stops it)\n"
        f"  operator         password in {password_file}\n"
        f"demo accounts (password {democity.DEMO_PASSWORD}):\n{accounts}\n",
        flush=True,
    )
    while not wake.wait(1):
        pass
    shutdown()


if __name__ == "__main__":
    main()
