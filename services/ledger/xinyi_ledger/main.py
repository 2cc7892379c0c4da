"""The ledger service: wiring."""

from __future__ import annotations

from xinyi.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from xinyi_kit.config import KitSettings, load
from xinyi_kit.service import ServiceKit
from xinyi_ledger import events
from xinyi_ledger.api import LedgerApi


class Settings(KitSettings):
    pass


def main() -> None:
    kit = ServiceKit("ledger", load(Settings))
    kit.add_servicer(
        ledger_pb2_grpc.add_LedgerServiceServicer_to_server,
        LedgerApi(kit.db, kit.outbox, kit.identity_channel),
        ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"].full_name,
    )
    kit.consume("identity", events.identity_handlers(kit.outbox))
    kit.run()


if __name__ == "__main__":
    main()
