"""Ledger's gRPC servicer."""

from __future__ import annotations

import grpc

from xinyi.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from xinyi_kit.db import Database
from xinyi_kit.permissions import Action, authorize
from xinyi_ledger import store


class LedgerApi(ledger_pb2_grpc.LedgerServiceServicer):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def ListAccounts(
        self, request: ledger_pb2.ListAccountsRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.ListAccountsResponse:
        _, estate_id = authorize(Action.ESTATE_READ, request.estate_id)
        assert estate_id is not None
        async with self.db.estate_tx(estate_id) as session:
            rows = await store.accounts(session, estate_id)
        return ledger_pb2.ListAccountsResponse(
            accounts=[
                ledger_pb2.Account(
                    estate_id=str(r.estate_id),
                    code=r.code,
                    name=r.name,
                    type=ledger_pb2.AccountType.Name(r.type),
                )
                for r in rows
            ]
        )
