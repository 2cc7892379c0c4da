"""Container health probe: `python -m xinyi_kit.probe HOST:PORT` exits 0 when SERVING."""

from __future__ import annotations

import asyncio
import sys

import grpc

from xinyi_kit.rpc import check_health


async def _probe(addr: str) -> str:
    async with grpc.aio.insecure_channel(addr) as ch:
        return await check_health(ch)


def main() -> None:
    addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
    state = asyncio.run(_probe(addr))
    print(state)
    raise SystemExit(0 if state == "SERVING" else 1)


if __name__ == "__main__":
    main()
