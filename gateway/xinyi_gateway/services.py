"""The gateway's gRPC clients: one channel per service, stubs, and the caller's token passed on."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from xinyi.disclosure.v1 import disclosure_pb2_grpc
from xinyi.identity.v1 import identity_pb2, identity_pb2_grpc, onboarding_pb2_grpc
from xinyi.ledger.v1 import (
    fees_pb2_grpc,
    groups_pb2_grpc,
    ledger_pb2_grpc,
    statements_pb2_grpc,
    takings_pb2_grpc,
    vouchers_pb2_grpc,
)
from xinyi.notifications.v1 import notifications_pb2_grpc
from xinyi.voting.v1 import tenders_pb2_grpc, voice_pb2_grpc, voting_pb2_grpc
from xinyi_gateway.config import Settings
from xinyi_kit import rpc

SERVICE_NAMES = ("identity", "ledger", "voting", "disclosure", "notifications")


@dataclass
class Services:
    channels: dict[str, grpc.aio.Channel]
    identity: identity_pb2_grpc.IdentityServiceStub
    onboarding: onboarding_pb2_grpc.OnboardingServiceStub  # served by identity
    ledger: ledger_pb2_grpc.LedgerServiceStub
    fees: fees_pb2_grpc.FeesServiceStub  # served by the ledger
    groups: groups_pb2_grpc.GroupServiceStub  # served by the ledger
    vouchers: vouchers_pb2_grpc.VoucherServiceStub  # served by the ledger
    statements: statements_pb2_grpc.StatementServiceStub  # served by the ledger
    takings: takings_pb2_grpc.TakingsServiceStub  # served by the ledger
    voting: voting_pb2_grpc.VotingServiceStub
    voice: voice_pb2_grpc.VoiceServiceStub  # served by voting
    tenders: tenders_pb2_grpc.TenderServiceStub  # served by voting
    meetings: tenders_pb2_grpc.MeetingServiceStub  # served by voting
    disclosure: disclosure_pb2_grpc.DisclosureServiceStub
    notifications: notifications_pb2_grpc.NotificationsServiceStub

    @classmethod
    def connect(cls, settings: Settings) -> Services:
        addrs = {name: getattr(settings, f"{name}_addr") for name in SERVICE_NAMES}
        channels = {
            name: rpc.channel(addr, deadline_seconds=settings.call_timeout_seconds)
            for name, addr in addrs.items()
        }
        return cls(
            channels=channels,
            identity=identity_pb2_grpc.IdentityServiceStub(channels["identity"]),
            onboarding=onboarding_pb2_grpc.OnboardingServiceStub(channels["identity"]),
            ledger=ledger_pb2_grpc.LedgerServiceStub(channels["ledger"]),
            fees=fees_pb2_grpc.FeesServiceStub(channels["ledger"]),
            groups=groups_pb2_grpc.GroupServiceStub(channels["ledger"]),
            vouchers=vouchers_pb2_grpc.VoucherServiceStub(channels["ledger"]),
            statements=statements_pb2_grpc.StatementServiceStub(channels["ledger"]),
            takings=takings_pb2_grpc.TakingsServiceStub(channels["ledger"]),
            voting=voting_pb2_grpc.VotingServiceStub(channels["voting"]),
            voice=voice_pb2_grpc.VoiceServiceStub(channels["voting"]),
            tenders=tenders_pb2_grpc.TenderServiceStub(channels["voting"]),
            meetings=tenders_pb2_grpc.MeetingServiceStub(channels["voting"]),
            disclosure=disclosure_pb2_grpc.DisclosureServiceStub(channels["disclosure"]),
            notifications=notifications_pb2_grpc.NotificationsServiceStub(
                channels["notifications"]
            ),
        )

    async def jwks(self) -> str:
        reply = await self.identity.GetJwks(identity_pb2.GetJwksRequest(), timeout=3)
        return str(reply.jwks_json)

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
