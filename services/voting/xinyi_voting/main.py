"""The voting service: wiring."""

from __future__ import annotations

from xinyi.voting.v1 import (
    tenders_pb2,
    tenders_pb2_grpc,
    voice_pb2,
    voice_pb2_grpc,
    voting_pb2,
    voting_pb2_grpc,
)
from xinyi_kit.config import KitSettings, load
from xinyi_kit.service import ServiceKit
from xinyi_voting import events
from xinyi_voting.api import VotingApi
from xinyi_voting.meetings import MeetingApi
from xinyi_voting.tenders import TenderApi
from xinyi_voting.voice import VoiceApi


class Settings(KitSettings):
    pass


def main() -> None:
    kit = ServiceKit("voting", load(Settings))
    voting = VotingApi(kit.db, kit.outbox, kit.identity_channel)
    kit.add_servicer(
        voting_pb2_grpc.add_VotingServiceServicer_to_server,
        voting,
        voting_pb2.DESCRIPTOR.services_by_name["VotingService"].full_name,
    )
    voice = VoiceApi(kit.db, kit.outbox, kit.identity_channel)
    kit.add_servicer(
        voice_pb2_grpc.add_VoiceServiceServicer_to_server,
        voice,
        voice_pb2.DESCRIPTOR.services_by_name["VoiceService"].full_name,
    )
    tenders = TenderApi(kit.db, kit.outbox, kit.identity_channel, voting)
    voting.on_decided.append(tenders.ballot_decided)
    kit.add_servicer(
        tenders_pb2_grpc.add_TenderServiceServicer_to_server,
        tenders,
        tenders_pb2.DESCRIPTOR.services_by_name["TenderService"].full_name,
    )
    kit.add_servicer(
        tenders_pb2_grpc.add_MeetingServiceServicer_to_server,
        MeetingApi(kit.db, voice),
        tenders_pb2.DESCRIPTOR.services_by_name["MeetingService"].full_name,
    )
    # A survey past its closing time publishes its results even if nobody closes it.
    kit.background("survey-closer", voice.close_due_surveys)
    kit.consume("identity", events.IDENTITY)
    kit.run()


if __name__ == "__main__":
    main()
