"""The ledger service: wiring."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from xinyi.ledger.v1 import (
    fees_pb2,
    fees_pb2_grpc,
    groups_pb2,
    groups_pb2_grpc,
    ledger_pb2,
    ledger_pb2_grpc,
    statements_pb2,
    statements_pb2_grpc,
    takings_pb2,
    takings_pb2_grpc,
    vouchers_pb2,
    vouchers_pb2_grpc,
)
from xinyi_kit.config import KitSettings, load
from xinyi_kit.service import ServiceKit
from xinyi_ledger import decisions, events
from xinyi_ledger.api import LedgerApi
from xinyi_ledger.bankstatements import StatementApi
from xinyi_ledger.blobstore import BlobStore, DiskStore
from xinyi_ledger.fees import FeesApi
from xinyi_ledger.groups import GroupApi
from xinyi_ledger.takingsapi import TakingsApi
from xinyi_ledger.vouchers import VoucherApi


class Settings(KitSettings):
    # Voucher files: "disk" for one node, "s3" (any S3-compatible store) when replicas share them.
    voucher_store: Literal["disk", "s3"] = "disk"
    voucher_dir: str | None = Field(default=None, description="default: <data_dir>/vouchers")
    s3_endpoint: str | None = Field(default=None, validate_default=True)
    s3_bucket: str | None = Field(default=None, validate_default=True)
    s3_region: str = "us-east-1"
    # Unset: the SDK's own chain (environment, instance or pod role).
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None

    @field_validator("s3_endpoint", "s3_bucket")
    @classmethod
    def _needed_for_s3(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("voucher_store") == "s3" and not value:
            raise ValueError("required when XINYI_VOUCHER_STORE=s3")
        return value

    def voucher_blobs(self) -> BlobStore:
        if self.voucher_store == "disk":
            return DiskStore(Path(self.voucher_dir or Path(self.data_dir) / "vouchers"))
        assert self.s3_endpoint and self.s3_bucket
        from xinyi_ledger.s3store import S3Store  # the SDK only where it is chosen

        return S3Store(
            endpoint=self.s3_endpoint,
            bucket=self.s3_bucket,
            region=self.s3_region,
            access_key=self.s3_access_key.get_secret_value() if self.s3_access_key else None,
            secret_key=self.s3_secret_key.get_secret_value() if self.s3_secret_key else None,
        )


def main() -> None:
    settings = load(Settings)
    kit = ServiceKit("ledger", settings)
    ledger = LedgerApi(kit.db, kit.outbox, kit.identity_channel)
    kit.add_servicer(
        ledger_pb2_grpc.add_LedgerServiceServicer_to_server,
        ledger,
        ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"].full_name,
    )
    kit.add_servicer(
        groups_pb2_grpc.add_GroupServiceServicer_to_server,
        GroupApi(kit.db, ledger),
        groups_pb2.DESCRIPTOR.services_by_name["GroupService"].full_name,
    )
    kit.add_servicer(
        fees_pb2_grpc.add_FeesServiceServicer_to_server,
        FeesApi(kit.db, kit.outbox),
        fees_pb2.DESCRIPTOR.services_by_name["FeesService"].full_name,
    )
    kit.add_servicer(
        statements_pb2_grpc.add_StatementServiceServicer_to_server,
        StatementApi(kit.db, kit.outbox),
        statements_pb2.DESCRIPTOR.services_by_name["StatementService"].full_name,
    )
    kit.add_servicer(
        takings_pb2_grpc.add_TakingsServiceServicer_to_server,
        TakingsApi(kit.db, kit.outbox),
        takings_pb2.DESCRIPTOR.services_by_name["TakingsService"].full_name,
    )
    kit.add_servicer(
        vouchers_pb2_grpc.add_VoucherServiceServicer_to_server,
        VoucherApi(kit.db, settings.voucher_blobs()),
        vouchers_pb2.DESCRIPTOR.services_by_name["VoucherService"].full_name,
    )
    kit.consume("identity", events.identity_handlers(kit.outbox))
    kit.consume("voting", decisions.voting_handlers(kit.outbox))
    kit.run()


if __name__ == "__main__":
    main()
