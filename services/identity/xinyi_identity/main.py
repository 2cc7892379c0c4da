"""The identity service: wiring, and the platform's first start (signing key, operator account)."""

from __future__ import annotations

import logging
import os
import secrets
import uuid
from pathlib import Path

from pydantic import Field

from xinyi.identity.v1 import identity_pb2, identity_pb2_grpc, onboarding_pb2, onboarding_pb2_grpc
from xinyi_identity import domain, store
from xinyi_identity.api import IdentityApi
from xinyi_identity.api_auth import hash_password, return_hash_memory_to_the_system
from xinyi_identity.onboarding import OnboardingApi, voting_handlers
from xinyi_kit import clock
from xinyi_kit.config import KitSettings, load
from xinyi_kit.db import xact_lock
from xinyi_kit.service import ServiceKit

log = logging.getLogger("xinyi_identity")

OPERATOR = "operator"
PASSWORD_FILE = "operator-password"


class Settings(KitSettings):
    bootstrap_password: str | None = Field(default=None, min_length=12)


async def bootstrap(kit: ServiceKit, settings: Settings) -> None:
    """On first start: one signing key and the operator account (several replicas race safely)."""
    async with kit.db.system_tx() as session:
        await xact_lock(session, "identity:bootstrap")
        if not await store.active_keys(session):
            key = domain.new_signing_key()
            session.add(
                store.SigningKeyRow(
                    kid=key.kid, private_pem=key.private_pem, public_jwk=key.public_jwk
                )
            )
        if await store.user_by_username(session, OPERATOR) is None:
            password = settings.bootstrap_password or secrets.token_urlsafe(15)
            user_id = uuid.uuid4()
            session.add(
                store.User(
                    user_id=user_id,
                    username=OPERATOR,
                    display_name="平台运营方",
                    password_hash=await hash_password(password),
                    created_at=clock.now(),
                )
            )
            await session.flush()
            session.add(store.RoleGrant(grant_id=uuid.uuid4(), user_id=user_id, role="operator"))
            if settings.bootstrap_password is None:
                path = Path(settings.data_dir) / PASSWORD_FILE
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(password + "\n")
                # A process's output is its log stream: the password itself stays in the file.
                print(
                    f"operator account created: username 'operator', password in {path} "
                    "(readable only by this user)",
                    flush=True,
                )


def main() -> None:
    return_hash_memory_to_the_system()
    settings = load(Settings)
    kit = ServiceKit("identity", settings)
    api = IdentityApi(kit.db, kit.outbox)
    kit.use_jwks(api.jwks)
    kit.add_servicer(
        identity_pb2_grpc.add_IdentityServiceServicer_to_server,
        api,
        identity_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name,
    )
    kit.add_servicer(
        onboarding_pb2_grpc.add_OnboardingServiceServicer_to_server,
        OnboardingApi(kit.db, kit.outbox),
        onboarding_pb2.DESCRIPTOR.services_by_name["OnboardingService"].full_name,
    )
    kit.consume("voting", voting_handlers(kit.outbox))
    kit.on_start(lambda: bootstrap(kit, settings))
    kit.run()


if __name__ == "__main__":
    main()
