"""Identity's owners of an estate, every page, as the caller may see them (their own records
carry their account; the approving body's carry everyone's)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from xinyi.identity.v1 import identity_pb2, identity_pb2_grpc
from xinyi_kit import auth


async def owners(
    identity: identity_pb2_grpc.IdentityServiceStub, estate_id: uuid.UUID
) -> AsyncIterator[identity_pb2.Owner]:
    token = ""
    while True:
        page = await identity.ListOwners(
            identity_pb2.ListOwnersRequest(
                estate_id=str(estate_id), page_size=1000, page_token=token
            ),
            metadata=auth.forwarded_metadata(),
            timeout=30,
        )
        for owner in page.owners:
            yield owner
        token = page.next_page_token
        if not token:
            return
