"""The disclosure service: wiring."""

from __future__ import annotations

from xinyi.disclosure.v1 import disclosure_pb2, disclosure_pb2_grpc
from xinyi_disclosure import events, flags
from xinyi_disclosure.api import DisclosureApi
from xinyi_disclosure.replay import Replayer
from xinyi_kit.config import KitSettings, load
from xinyi_kit.service import ServiceKit


class Settings(KitSettings):
    # The emitters whose event logs a rebuild replays (identity's address is the kit's).
    ledger_addr: str = "127.0.0.1:50052"
    voting_addr: str = "127.0.0.1:50053"


def main() -> None:
    settings = load(Settings)
    kit = ServiceKit("disclosure", settings)
    # Raised flags and published reports are announced (notifications tells people).
    flags.announce_with(kit.outbox)
    consumers = {
        "identity": kit.consume("identity", events.IDENTITY),
        "ledger": kit.consume("ledger", events.LEDGER),
        "voting": kit.consume("voting", events.VOTING),
    }
    logs = {
        "identity": settings.identity_addr,
        "ledger": settings.ledger_addr,
        "voting": settings.voting_addr,
    }
    kit.add_servicer(
        disclosure_pb2_grpc.add_DisclosureServiceServicer_to_server,
        DisclosureApi(kit.db, Replayer(kit.db, consumers, logs)),
        disclosure_pb2.DESCRIPTOR.services_by_name["DisclosureService"].full_name,
    )
    kit.run()


if __name__ == "__main__":
    main()
