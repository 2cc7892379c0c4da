"""Identity's gRPC servicer: one class, its parts by area."""

from __future__ import annotations

from xinyi.identity.v1 import identity_pb2_grpc
from xinyi_identity.api_auth import AuthApi
from xinyi_identity.api_city import CityApi
from xinyi_identity.api_roster import RosterApi
from xinyi_kit.db import Database
from xinyi_kit.outbox import Outbox


class IdentityApi(AuthApi, CityApi, RosterApi, identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, db: Database, outbox: Outbox) -> None:
        self.db = db
        self.outbox = outbox
