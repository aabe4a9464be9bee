"""Connector statuses and the table of allowed status transitions.

The table is the reference's ConnectorStateMachine (Connector Protocol). Only PUT _status checks
it; the other routes that touch `status` (_configuration, _error, _service_type, _native) set
theirs directly, as the reference does.
"""

from enum import StrEnum


class ConnectorStatus(StrEnum):
    CREATED = "created"
    NEEDS_CONFIGURATION = "needs_configuration"
    CONFIGURED = "configured"
    CONNECTED = "connected"
    ERROR = "error"


ALLOWED_TRANSITIONS: dict[ConnectorStatus, frozenset[ConnectorStatus]] = {
    ConnectorStatus.CREATED: frozenset({ConnectorStatus.NEEDS_CONFIGURATION, ConnectorStatus.ERROR}),
    ConnectorStatus.NEEDS_CONFIGURATION: frozenset({ConnectorStatus.CONFIGURED, ConnectorStatus.ERROR}),
    ConnectorStatus.CONFIGURED: frozenset({
        ConnectorStatus.NEEDS_CONFIGURATION, ConnectorStatus.CONFIGURED, ConnectorStatus.CONNECTED,
        ConnectorStatus.ERROR}),
    ConnectorStatus.CONNECTED: frozenset({
        ConnectorStatus.CONNECTED, ConnectorStatus.CONFIGURED, ConnectorStatus.ERROR}),
    ConnectorStatus.ERROR: frozenset({
        ConnectorStatus.CONNECTED, ConnectorStatus.CONFIGURED, ConnectorStatus.ERROR}),
}


def can_transition(current: str, target: str) -> bool:
    """Whether a connector in `current` may move to `target`. Unknown statuses may not move."""
    try:
        return ConnectorStatus(target) in ALLOWED_TRANSITIONS[ConnectorStatus(current)]
    except ValueError:
        return False

