"""The notifications service: wiring."""

from __future__ import annotations

from xinyi.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from xinyi_kit.config import KitSettings, load
from xinyi_kit.service import ServiceKit
from xinyi_notifications.api import NotificationsApi


class Settings(KitSettings):
    pass


def main() -> None:
    kit = ServiceKit("notifications", load(Settings))
    kit.add_servicer(
        notifications_pb2_grpc.add_NotificationsServiceServicer_to_server,
        NotificationsApi(kit.db),
        notifications_pb2.DESCRIPTOR.services_by_name["NotificationsService"].full_name,
    )
    kit.run()


if __name__ == "__main__":
    main()
