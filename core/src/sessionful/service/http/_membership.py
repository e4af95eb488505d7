"""Which cluster membership the settings ask for."""

from __future__ import annotations

import socket

from sessionful.service.app import AgentService
from sessionful.service.config import Settings
from sessionful.service.membership import LocalMembership, Membership

__all__ = ["membership_for"]


def membership_for(settings: Settings, service: AgentService) -> LocalMembership:
    """The cluster membership ``settings`` ask for:
    :class:`~sessionful.service.membership.Membership` in the database of the service's
    PostgreSQL store (:attr:`~sessionful.SessionManager.store_dsn`), else this instance alone."""
    cluster = settings.cluster
    port = settings.server.port
    address = cluster.advertise_address or f"{settings.server.host}:{port}"
    node_id = cluster.node_id or cluster.advertise_address or f"{socket.gethostname()}:{port}"
    for manager in service.managers.values():
        dsn = manager.store_dsn
        if dsn is not None:
            return Membership(
                dsn,
                node_id,
                address,
                heartbeat_interval=cluster.heartbeat_interval,
                node_ttl=cluster.node_ttl,
            )
    return LocalMembership(node_id, address)
