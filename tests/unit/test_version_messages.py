"""A stale or duplicate version message re-sends where the version's operation is, never a new one (invariant 11)."""

from __future__ import annotations

import json
from pathlib import Path

from shared.domain.catalog import load_catalog
from shared.domain.model import PendingOperation, Status
from shared.steps.versions import _where_it_is
from tests.conftest import T0, make_version
from tests.unit.fakes import make_deps

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalog")


def test_a_version_with_no_operation_under_way_gets_no_message() -> None:
    """Nothing pending: a stale message ends here, nothing is re-sent."""
    assert _where_it_is(make_version(status=Status.READY), make_deps(CATALOG)) == []


def test_a_version_mid_operation_gets_its_current_operation_re_sent_now() -> None:
    """Pending validate-cleanup at attempt 5: the validate message of attempt 5, due now (deduplicated by id)."""
    pending = PendingOperation(kind="validate-cleanup", started_at=T0)
    version = make_version(status=Status.READY, pending=pending, op_attempt=5)
    [message] = _where_it_is(version, make_deps(CATALOG))
    body = json.loads(message.body)
    assert (body["operation"], body["attempt"], body["trigger"], message.scheduled_for) == ("validate", 5, "next", None)


def test_a_pending_kind_that_is_no_version_operation_gets_no_message() -> None:
    """A pending operation of another kind is not a version operation to re-send."""
    version = make_version(status=Status.READY, pending=PendingOperation(kind="delete-temp", started_at=T0))
    assert _where_it_is(version, make_deps(CATALOG)) == []
