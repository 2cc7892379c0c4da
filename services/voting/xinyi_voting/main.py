"""The voting service: wiring."""

from __future__ import annotations

from xinyi.voting.v1 import voice_pb2, voice_pb2_grpc, voting_pb2, voting_pb2_grpc
from xinyi_kit.config import KitSettings, load
from xinyi_kit.service import ServiceKit
from xinyi_voting import events
from xinyi_voting.api import VotingApi
from xinyi_voting.voice import VoiceApi


class Settings(KitSettings):
    pass


def main() -> None:
    kit = ServiceKit("voting", load(Settings))
    kit.add_servicer(
        voting_pb2_grpc.add_VotingServiceServicer_to_server,
        VotingApi(kit.db, kit.outbox, kit.identity_channel),
        voting_pb2.DESCRIPTOR.services_by_name["VotingService"].full_name,
    )
    kit.add_servicer(
        voice_pb2_grpc.add_VoiceServiceServicer_to_server,
        VoiceApi(kit.db, kit.outbox),
        voice_pb2.DESCRIPTOR.services_by_name["VoiceService"].full_name,
    )
    kit.consume("identity", events.IDENTITY)
    kit.run()


if __name__ == "__main__":
    main()
