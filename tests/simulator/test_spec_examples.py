"""Azure's own REST examples, replayed over HTTP against the loopback simulator.

The examples are stored in tests/simulator/spec_examples (manifest.json names each one's
source path and commit in Azure/azure-rest-api-specs); spec_replay.py says what is compared
and which fields cannot match (with the reason for each).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator import Simulator
from simulator.server import SimulatorServer
from tests.simulator.spec_operations import OPS
from tests.simulator.spec_replay import Arm, Comparison, Reply, substitute
from tests.simulator.spec_setups import SUB, SUBSTITUTIONS, deep_merge

EXAMPLES = Path(__file__).parent / "spec_examples"
MANIFEST = json.loads((EXAMPLES / "manifest.json").read_text())["examples"]


@pytest.fixture
def arm() -> Iterator[Arm]:
    sim = Simulator(advance_on_sleep=False)
    server = SimulatorServer(sim, "127.0.0.1", 0, speed=0).start()
    try:
        yield Arm(server.url)
    finally:
        server.stop()


def test_every_stored_example_is_replayed_and_sourced() -> None:
    """Each stored example has a manifest entry (source path and commit) and a replay; 60 or more."""
    stored = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.glob("*/*.json")}
    assert stored == set(MANIFEST)
    assert {f"{key}.json" for key in OPS} == stored
    assert len(stored) >= 60
    for entry in MANIFEST.values():
        assert entry["source"].startswith("specification/")
        assert len(entry["commit"]) == 40


def _query(op_query: tuple[str, ...], params: dict[str, Any]) -> dict[str, str]:
    query = {"api-version": str(params.get("api-version") or params.get("version"))}
    for name in op_query:
        value = params[name]
        query[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return query


def _lro_final(arm: Arm, reply: Reply) -> Reply:
    """Follow the operation a 201/202 names to its end; it must end Succeeded."""
    final = arm.wait(reply)
    if final.body and "status" in final.body:
        assert final.body["status"] == "Succeeded", f"the operation ended {final.body}"
    else:
        assert final.status in (200, 204), f"the operation ended {final.status} {final.body}"
    return final


@pytest.mark.parametrize("key", sorted(OPS))
def test_example_replays(arm: Arm, key: str) -> None:
    """The simulator answers Azure's published example as the example documents it."""
    example = json.loads((EXAMPLES / f"{key}.json").read_text())
    op = OPS[key]
    params = substitute(example["parameters"], SUBSTITUTIONS)
    params["subscriptionId"] = SUB
    created = op.setup(arm) if op.setup else None
    path = op.path.format(**{k: v for k, v in params.items() if isinstance(v, str)})
    body = params.get(op.body) if op.body else None
    reply = arm.call(op.method, path, body, _query(op.query, params))

    documented = example["responses"]
    assert str(reply.status) in documented, f"{op.method} {path}: {reply.status} {reply.body}"
    doc = documented[str(reply.status)]
    for header in doc.get("headers") or {}:
        assert reply.header(header) is not None, f"documented header {header} missing"
    final = _lro_final(arm, reply) if reply.status in (201, 202) else None

    if op.method == "POST" and reply.status == 202 and "body" in documented.get("200", {}):
        # the documented 200 is the operation's result, read from the Location URL at the end
        location = reply.header("Location")
        assert location is not None
        result = arm.call("GET", location)
        assert result.status == 200, f"{result.status} {result.body}"
        actual, expected, url_path = result.body, documented["200"]["body"], path
    elif "body" in doc:
        actual, expected, url_path = reply.body, doc["body"], path
    else:
        assert reply.body in (None, {}), f"documented no body, got {reply.body}"
        assert final is not None or reply.status in (200, 204)
        return
    echo = deep_merge(created, body) if created is not None and body is not None else (body or created)
    mismatches = Comparison(url_path, SUBSTITUTIONS, op.not_modelled).run(expected, actual, echo)
    assert not mismatches, "\n".join(str(m) for m in mismatches)
