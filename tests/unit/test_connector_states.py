"""The connector status table (the reference's ConnectorStateMachine): every pair, no node needed."""

import itertools

import pytest

from app.domain.connector_states import ALLOWED_TRANSITIONS, ConnectorStatus, can_transition

STATUSES = ["created", "needs_configuration", "configured", "connected", "error"]

# Written out from the reference, independently of the module under test.
ALLOWED = {
    ("created", "needs_configuration"), ("created", "error"),
    ("needs_configuration", "configured"), ("needs_configuration", "error"),
    ("configured", "needs_configuration"), ("configured", "configured"),
    ("configured", "connected"), ("configured", "error"),
    ("connected", "connected"), ("connected", "configured"), ("connected", "error"),
    ("error", "connected"), ("error", "configured"), ("error", "error"),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, STATUSES)))
def test_every_pair_of_statuses_is_allowed_exactly_as_in_the_reference(current, target):
    assert can_transition(current, target) is ((current, target) in ALLOWED)


def test_the_enum_values_are_the_wire_strings():
    assert [status.value for status in ConnectorStatus] == STATUSES


def test_every_status_has_a_row_in_the_table():
    assert set(ALLOWED_TRANSITIONS) == set(ConnectorStatus)


@pytest.mark.parametrize("status", ["created", "needs_configuration"])
def test_created_and_needs_configuration_cannot_stay_where_they_are(status):
    assert not can_transition(status, status)


@pytest.mark.parametrize(("current", "target"), [
    ("unknown", "error"), ("created", "unknown"), ("", "created"), ("CREATED", "error")])
def test_unknown_statuses_cannot_move(current, target):
    assert not can_transition(current, target)

