"""The version state machine pinned by a literal table of moves, not by the table the code uses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.errors import TransitionRefused
from shared.domain.model import ImageVersion, Stage, Status
from tests.conftest import make_version
from tests.unit.test_lifecycle import OPERATIONS, walk_to

B, C, R, OK = Status.BUILDING, Status.CAPTURING, Status.REPLICATING, Status.READY
SUP, WD, F, DEP, DEL = Status.SUPERSEDED, Status.WITHDRAWN, Status.FAILED, Status.DEPRECATED, Status.DELETED

# (status, stage it serves) -> {operation: status after}; every operation not listed is refused.
EXPECTED: dict[tuple[Status, Stage | None], dict[str, Status]] = {
    (B, None): {"start_capture": C, "fail": F},
    (C, None): {"captured": R, "fail": F},
    (R, None): {"replicated": OK, "fail": F},
    (OK, Stage.TEST): {"validate": OK, "fail": F, "deprecate": DEP},
    (OK, Stage.PRODUCTION): {
        "validate": OK,
        "fail": F,
        "deprecate": DEP,
        "supersede": SUP,
        "withdraw": WD,
        "promote": R,
    },
    (SUP, Stage.PRODUCTION): {"restore": OK, "deprecate": DEP},
    (WD, Stage.PRODUCTION): {"deprecate": DEP},
    (F, Stage.TEST): {"deprecate": DEP, "delete": DEL},
    (DEP, Stage.TEST): {"delete": DEL},
    (DEL, Stage.TEST): {},
}
CASES = [(status, stage, name) for (status, stage) in EXPECTED for name in OPERATIONS]


@pytest.mark.parametrize(("status", "stage", "name"), CASES)
def test_each_operation_from_each_status_matches_the_table(status: Status, stage: Stage | None, name: str) -> None:
    """Each operation either lands exactly where the table says or is refused, naming the version."""
    before = walk_to(status, stage or Stage.TEST)
    assert before.status is status
    expected = EXPECTED[(status, stage)].get(name)
    if expected is None:
        with pytest.raises(TransitionRefused, match=r"1\.0\.0"):
            OPERATIONS[name](before)
        return
    assert OPERATIONS[name](before).status is expected


def test_a_version_is_captured_once() -> None:
    """Recording a capture again on a ready version is refused: a gallery version is never re-made."""
    ready = walk_to(Status.READY)
    with pytest.raises(TransitionRefused, match="cannot record the capture of 1.0.0: it is ready in test"):
        OPERATIONS["captured"](ready)


REACHABLE: dict[Status, set[Status]] = {}
for (_status, _stage), _moves in EXPECTED.items():
    REACHABLE.setdefault(_status, set()).update(_moves.values())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(sorted(OPERATIONS)), max_size=25))
def test_random_command_sequences_only_make_listed_moves(names: list[str]) -> None:
    """Whatever commands arrive in whatever order, every status change is one the table lists."""
    version: ImageVersion = make_version()
    for name in names:
        try:
            after = OPERATIONS[name](version)
        except TransitionRefused:
            continue
        if after.status is not version.status:
            assert after.status in REACHABLE[version.status], (name, version.status, after.status)
        if after.status is Status.READY:
            assert after.stage is not None
        version = after
