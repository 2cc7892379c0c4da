"""Voting's gRPC servicer."""

from __future__ import annotations

import grpc

from xinyi.voting.v1 import voting_pb2, voting_pb2_grpc
from xinyi_kit.db import Database
from xinyi_kit.errors import NotFound
from xinyi_kit.permissions import Action, authorize_estate
from xinyi_voting import store


class VotingApi(voting_pb2_grpc.VotingServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ListBallots(
        self, request: voting_pb2.ListBallotsRequest, context: grpc.aio.ServicerContext
    ) -> voting_pb2.ListBallotsResponse:
        _, estate_id = authorize_estate(Action.ESTATE_READ, request.estate_id)
        async with self.db.estate_tx(estate_id) as session:
            if not await store.known(session, estate_id):
                raise NotFound("no such estate (or its registration has not reached voting yet)")
            rows = await store.ballots(session, estate_id)
        return voting_pb2.ListBallotsResponse(
            ballots=[
                voting_pb2.Ballot(
                    estate_id=str(r.estate_id),
                    ballot_id=str(r.ballot_id),
                    title=r.title,
                    state=r.state,
                )
                for r in rows
            ]
        )
