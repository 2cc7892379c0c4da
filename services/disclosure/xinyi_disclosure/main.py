"""The disclosure service: wiring."""

from __future__ import annotations

from xinyi.disclosure.v1 import disclosure_pb2, disclosure_pb2_grpc
from xinyi_disclosure import events
from xinyi_disclosure.api import DisclosureApi
from xinyi_kit.config import KitSettings, load
from xinyi_kit.service import ServiceKit


class Settings(KitSettings):
    pass


def main() -> None:
    kit = ServiceKit("disclosure", load(Settings))
    kit.add_servicer(
        disclosure_pb2_grpc.add_DisclosureServiceServicer_to_server,
        DisclosureApi(kit.db),
        disclosure_pb2.DESCRIPTOR.services_by_name["DisclosureService"].full_name,
    )
    kit.consume("identity", events.IDENTITY)
    kit.consume("ledger", events.LEDGER)
    kit.consume("voting", events.VOTING)
    kit.run()


if __name__ == "__main__":
    main()
