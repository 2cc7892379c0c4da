"""What every benchmark shares: sizes, figures with their baseline and target, latency statistics,
the HTTP and gRPC load generators, and the memory sampler of the platform's processes."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import aiohttp
import psutil  # type: ignore[import-untyped]

from xinyi_dev import democity

SizeName = Literal["smoke", "default", "city"]


@dataclass(frozen=True)
class Size:
    """How much of everything one run does; `smoke` is what `make test` runs."""

    name: SizeName
    city: democity.Size  # the generator's city for month-end
    seed: int
    posting_estates: int
    postings: int  # single PostIncome calls across the estates
    postings_within: int  # the same within one estate
    batch_entries: int  # entries posted by BatchPostIncome, when the contract has it
    copy_entries: int  # raw COPY baseline
    per_tx_entries: int  # raw one-transaction-per-entry baseline
    nats_messages: int
    grpc_calls: int
    http_requests: int  # per load run at 64 connections (baseline and gateway alike)
    import_units: int  # the onboarding CSV, whose owners then vote
    voters: int
    report_units: int
    report_entries: int  # a year of income entries in the disclosure estate
    report_requests: int
    lag_samples: int
    statement_lines: int
    steady_seconds: int  # the steady mix whose memory must not grow (after its warm-up)


SIZES: dict[str, Size] = {
    "smoke": Size(
        "smoke", "small", 7, 3, 30, 15, 30, 2_000, 100, 200, 200, 300,
        60, 12, 20, 24, 10, 3, 20, 4,
    ),
    "default": Size(
        "default", "medium", 2019, 100, 1_500, 500, 2_000, 20_000, 2_000, 5_000, 5_000, 2_000,
        2_000, 300, 2_000, 240, 40, 20, 500, 120,
    ),
    "city": Size(
        "city", "city", 2019, 100, 10_000, 3_000, 20_000, 100_000, 10_000, 50_000, 30_000,
        30_000, 10_000, 10_000, 2_000, 3_600, 500, 200, 10_000, 600,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    """A bound from issue 13: `value op bound` is met."""

    op: Literal[">=", "<="]
    bound: float
    text: str

    def met(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value <= self.bound


def at_least(bound: float, text: str) -> Target:
    return Target(">=", bound, text)


def at_most(bound: float, text: str) -> Target:
    return Target("<=", bound, text)


@dataclass
class Figure:
    """One measured figure beside the baseline of the same run and its target."""

    benchmark: str
    name: str
    value: float | None
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    target: str = ""
    met: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline_value:
            return None
        return self.value / self.baseline_value

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def figure(
    benchmark: str,
    name: str,
    value: float | None,
    unit: str,
    *,
    baseline: tuple[str, float] | None = None,
    target: Target | None = None,
    **detail: Any,
) -> Figure:
    return Figure(
        benchmark,
        name,
        value,
        unit,
        baseline=baseline[0] if baseline else "",
        baseline_value=baseline[1] if baseline else None,
        target=target.text if target else "",
        met=target.met(value) if target is not None and value is not None else None,
        detail=detail,
    )


@dataclass(frozen=True)
class Load:
    """What a load run measured: calls per second and latencies in milliseconds."""

    count: int
    seconds: float
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarise(latencies: list[float], seconds: float, errors: int = 0) -> Load:
    ordered = sorted(latencies)
    ms = [x * 1000 for x in ordered]
    return Load(
        count=len(ordered),
        seconds=seconds,
        per_second=len(ordered) / seconds if seconds else math.nan,
        p50_ms=percentile(ms, 50),
        p95_ms=percentile(ms, 95),
        p99_ms=percentile(ms, 99),
        errors=errors,
    )


async def run_load(call: Callable[[int], Awaitable[None]], count: int, concurrency: int) -> Load:
    """Calls `call(n)` for n in 0..count-1 from `concurrency` workers; an exception counts as an
    error (and its latency is left out)."""
    latencies: list[float] = []
    errors = 0
    next_n = 0

    async def worker() -> None:
        nonlocal next_n, errors
        while next_n < count:
            n = next_n
            next_n += 1
            began = time.perf_counter()
            try:
                await call(n)
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - began)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summarise(latencies, time.perf_counter() - started, errors)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None


class HttpStatusError(RuntimeError):
    pass


async def http_load(
    base_url: str,
    request: Callable[[int], Request],
    count: int,
    connections: int,
    *,
    statuses: list[int] | None = None,
    retry: tuple[int, ...] = (),
) -> Load:
    """An in-process HTTP load generator (aiohttp, `connections` kept-alive connections and as
    many workers); the same for the bare baseline and for the gateway. A reply other than 2xx
    is an error, except one of `retry`, which is sent again (up to 5 times, as a client would;
    the latency covers every attempt); `statuses` collects every reply's status when given."""
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:

        async def call(n: int) -> None:
            r = request(n)
            for attempt in range(6):
                async with session.request(
                    r.method, r.path, headers=r.headers, json=r.json
                ) as reply:
                    await reply.read()
                    if statuses is not None:
                        statuses.append(reply.status)
                    if reply.status in retry and attempt < 5:
                        continue
                    if not 200 <= reply.status < 300:
                        raise HttpStatusError(f"{r.method} {r.path}: HTTP {reply.status}")
                    return

        return await run_load(call, count, connections)


def kernel_peak(pid: int) -> int | None:
    """The process's resident peak in bytes since it started or since `reset_peak` (the kernel's
    VmHWM: exact, where sampling misses what lives between two readings); None off Linux."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_peak(pid: int) -> None:
    """Starts the process's VmHWM again from its present resident size."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")


STARTUP = "startup"  # the phase before the first one set: the processes starting, loading


class MemorySampler:
    """Samples the resident set size of named processes every `interval` seconds in a thread,
    for the growth from the first tenth of the samples to the last. The peak per process is the
    kernel's (VmHWM) where it tells it, or the largest sample if larger. Set `phase` (a benchmark's
    name) and each process's peak is also kept per phase, to tell which work drives it: the
    kernel's peak is read and started again at each change, so one sampler of a process at a
    time reads it (`kernel=False` for the others)."""

    def __init__(self, pids: dict[str, int], interval: float = 0.5, *, kernel: bool = True) -> None:
        self.pids = pids
        self.kernel = kernel
        self.interval = interval
        self.samples: dict[str, list[int]] = {name: [] for name in pids}
        self._phase = STARTUP
        self.phase_peaks: dict[str, dict[str, int]] = {name: {} for name in pids}
        self.kernel_peaks: dict[str, dict[str, int]] = {name: {} for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def phase(self) -> str:
        return self._phase

    @phase.setter
    def phase(self, name: str) -> None:
        self._close_phase()
        self._phase = name

    def _close_phase(self) -> None:
        if not self.kernel:
            return
        for name, pid in self.pids.items():
            peak = kernel_peak(pid)
            if peak is not None:
                peaks = self.kernel_peaks[name]
                peaks[self._phase] = max(peak, peaks.get(self._phase, 0))
                reset_peak(pid)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._close_phase()

    def _run(self) -> None:
        procs = {}
        for name, pid in self.pids.items():
            try:
                procs[name] = psutil.Process(pid)
            except psutil.NoSuchProcess:
                continue
        while not self._stop.is_set():
            for name, proc in procs.items():
                try:
                    rss = proc.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
                self.samples[name].append(rss)
                peaks = self.phase_peaks[name]
                phase = self._phase
                peaks[phase] = max(rss, peaks.get(phase, 0))
            self._stop.wait(self.interval)

    def report(self) -> dict[str, dict[str, Any]]:
        """Per process: peak MiB (the kernel's, or only sampled where it tells none), mean MiB
        of the first and last tenth, growth in percent, and the peak MiB of each phase."""
        out = {}
        for name, values in self.samples.items():
            if not values:
                continue
            tenth = max(1, len(values) // 10)
            first = sum(values[:tenth]) / tenth
            last = sum(values[-tenth:]) / tenth
            # A sample can exceed the kernel's peak by a few pages it had not counted yet.
            kernel, sampled = self.kernel_peaks[name], self.phase_peaks[name]
            by_phase = {p: max(kernel.get(p, 0), sampled.get(p, 0)) for p in {*kernel, *sampled}}
            out[name] = {
                "peak_mib": max(by_phase.values()) / 2**20,
                "peak_from": "kernel" if self.kernel_peaks[name] else "samples",
                "first_tenth_mib": first / 2**20,
                "last_tenth_mib": last / 2**20,
                "growth_percent": (last - first) / first * 100,
                "samples": len(values),
                "peak_mib_by_phase": {
                    phase: round(peak / 2**20, 1) for phase, peak in by_phase.items()
                },
            }
        return out


BACKEND = "backend:"  # a PostgreSQL backend's reading: backend:<pid>:<name>
REAPED = "reaped"  # the PostgreSQL server's ended children, in all


class CpuMeter:
    """Where a benchmark's CPU goes: the CPU time (user and system, from the kernel) of the
    platform's processes, of NATS and of each service's PostgreSQL backends (`pg:<role>`; the
    server's own processes as `pg:server`), read before and after a stretch of work.

    Backends come and go (a pool's overflow connections close when they are given back): what
    a backend that ended in between spent is read from the server's count of its children's
    time, as `pg:ended backends`."""

    def __init__(self, pids: dict[str, int], postmaster: int | None) -> None:
        self.pids = pids
        self.postmaster = postmaster

    @classmethod
    def of(cls, platform: Any) -> CpuMeter:
        pids = {name: p.popen.pid for name, p in platform.procs.items() if p.popen is not None}
        if platform.nats is not None and platform.nats.proc is not None:
            pids["nats"] = platform.nats.proc.pid
        postmaster = None
        if platform.pg is not None:
            stamp = platform.pg.data_dir / "postmaster.pid"
            if stamp.exists():
                postmaster = int(stamp.read_text().split()[0])
        return cls(pids, postmaster)

    def read(self) -> dict[str, float]:
        """CPU seconds so far: by process name, by backend (`backend:<pid>:pg:<role>`), and the
        server's ended children in all (`reaped`)."""
        out: dict[str, float] = {}

        def add(name: str, proc: psutil.Process) -> None:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                out[name] = out.get(name, 0.0) + times.user + times.system

        for name, pid in self.pids.items():
            with contextlib.suppress(psutil.Error):
                add(name, psutil.Process(pid))
        if self.postmaster is not None:
            with contextlib.suppress(psutil.Error):
                server = psutil.Process(self.postmaster)
                add("pg:server", server)
                times = server.cpu_times()
                out[REAPED] = times.children_user + times.children_system
                for child in server.children():
                    with contextlib.suppress(psutil.Error):
                        title = child.cmdline()
                        # A backend's title: "postgres: <role> <database> <client> <state>".
                        words = " ".join(title).split()
                        role = words[1] if len(words) > 2 and words[1].startswith("xinyi") else ""
                        add(f"{BACKEND}{child.pid}:{f'pg:{role}' if role else 'pg:server'}", child)
        return out

    @staticmethod
    def per_operation(
        before: dict[str, float], after: dict[str, float], count: int
    ) -> dict[str, float]:
        """Milliseconds of CPU per operation by process, largest first, with their total."""
        spent: dict[str, float] = {}
        for key, value in after.items():
            if key == REAPED:
                continue
            name = key.split(":", 2)[2] if key.startswith(BACKEND) else key
            spent[name] = spent.get(name, 0.0) + value - before.get(key, 0.0)
        if REAPED in after:
            # An ended backend's whole time is in the server's children's; what it had spent
            # before the stretch began is not the stretch's.
            gone = sum(v for k, v in before.items() if k.startswith(BACKEND) and k not in after)
            spent["pg:ended backends"] = after[REAPED] - before.get(REAPED, 0.0) - gone
        shown = {
            k: round(1000 * v / count, 2)
            for k, v in sorted(spent.items(), key=lambda x: -x[1])
            if v > 0
        }
        return {**shown, "total": round(1000 * sum(spent.values()) / count, 2)}
