"""Responses for managed Run Commands (`virtualMachines/{vm}/runCommands[/{name}]`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.responses import Params, Request, Response, _body, _expand, _list, _lro

if TYPE_CHECKING:
    from simulator.app import SimulatorApp as Simulator


def put_run_command(sim: Simulator, req: Request, p: Params) -> Response:
    backend = sim.compute.run_commands
    rc, op, created = backend.put(p["rg"], p["name"], p["rc"], _body(req))
    return _lro(req, op, 201 if created else 200, backend.body(rc))


def get_run_command(sim: Simulator, req: Request, p: Params) -> Response:
    backend = sim.compute.run_commands
    rc = backend.get(p["rg"], p["name"], p["rc"])
    return Response(200, backend.body(rc, expand_instance_view="instanceview" in _expand(req)))


def list_run_commands(sim: Simulator, req: Request, p: Params) -> Response:
    backend = sim.compute.run_commands
    expand = "instanceview" in _expand(req)
    return _list([backend.body(rc, expand) for rc in backend.list(p["rg"], p["name"])])


def delete_run_command(sim: Simulator, req: Request, p: Params) -> Response:
    existed = sim.compute.run_commands.delete(p["rg"], p["name"], p["rc"])
    return Response(200 if existed else 204)
