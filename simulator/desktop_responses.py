"""The response layer for Microsoft.DesktopVirtualization and VM extensions (see responses.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.responses import Params, Request, Response, _body, _list, _lro

if TYPE_CHECKING:
    from simulator.app import SimulatorApp as Simulator


def _force(req: Request) -> bool:
    return req.query.get("force", "").lower() == "true"


# -- host pools ------------------------------------------------------------------------------------------------
def put_host_pool(sim: Simulator, req: Request, p: Params) -> Response:
    pool, created = sim.desktop.put_pool(p["rg"], p["pool"], _body(req))
    return Response(201 if created else 200, sim.desktop.pool_body(pool))


def patch_host_pool(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, sim.desktop.pool_body(sim.desktop.patch_pool(p["rg"], p["pool"], _body(req))))


def get_host_pool(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, sim.desktop.pool_body(sim.desktop.get_pool(p["rg"], p["pool"])))


def list_host_pools(sim: Simulator, req: Request, p: Params) -> Response:
    return _list([sim.desktop.pool_body(pool) for pool in sim.desktop.list_pools(p.get("rg"))])


def delete_host_pool(sim: Simulator, req: Request, p: Params) -> Response:
    sim.desktop.delete_pool(p["rg"], p["pool"])
    return Response(200)


def retrieve_registration_token(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, sim.desktop.registration_token(p["rg"], p["pool"]))


def list_registration_tokens(sim: Simulator, req: Request, p: Params) -> Response:
    info = sim.desktop.registration_token(p["rg"], p["pool"])
    return _list([info] if info["token"] else [])


# -- session hosts -----------------------------------------------------------------------------------------------
def list_session_hosts(sim: Simulator, req: Request, p: Params) -> Response:
    return _list([sim.desktop.host_body(h) for h in sim.desktop.list_hosts(p["rg"], p["pool"])])


def get_session_host(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, sim.desktop.host_body(sim.desktop.get_host(p["rg"], p["pool"], p["host"])))


def patch_session_host(sim: Simulator, req: Request, p: Params) -> Response:
    host = sim.desktop.patch_host(p["rg"], p["pool"], p["host"], _body(req))
    return Response(200, sim.desktop.host_body(host))


def delete_session_host(sim: Simulator, req: Request, p: Params) -> Response:
    sim.desktop.delete_host(p["rg"], p["pool"], p["host"], _force(req))
    return Response(200)


# -- user sessions -------------------------------------------------------------------------------------------------
def list_user_sessions(sim: Simulator, req: Request, p: Params) -> Response:
    host = sim.desktop.get_host(p["rg"], p["pool"], p["host"])
    return _list([sim.desktop.session_body(host, s) for s in host.sessions.values()])


def list_pool_user_sessions(sim: Simulator, req: Request, p: Params) -> Response:
    bodies = []
    for host in sim.desktop.list_hosts(p["rg"], p["pool"]):
        sim.desktop.get_host(p["rg"], p["pool"], host.name)  # settles logged-off users
        bodies += [sim.desktop.session_body(host, s) for s in host.sessions.values()]
    return _list(bodies)


def get_user_session(sim: Simulator, req: Request, p: Params) -> Response:
    host, session = sim.desktop._session(p["rg"], p["pool"], p["host"], p["session"])
    return Response(200, sim.desktop.session_body(host, session))


def delete_user_session(sim: Simulator, req: Request, p: Params) -> Response:
    sim.desktop.log_off(p["rg"], p["pool"], p["host"], p["session"], _force(req))
    return Response(200)


def send_message(sim: Simulator, req: Request, p: Params) -> Response:
    sim.desktop.send_message(p["rg"], p["pool"], p["host"], p["session"], _body(req))
    return Response(200)


def disconnect_user_session(sim: Simulator, req: Request, p: Params) -> Response:
    sim.desktop.disconnect(p["rg"], p["pool"], p["host"], p["session"])
    return Response(200)


# -- VM extensions -------------------------------------------------------------------------------------------------
def put_extension(sim: Simulator, req: Request, p: Params) -> Response:
    ext, op, created = sim.desktop.put_extension(p["rg"], p["name"], p["ext"], _body(req))
    return _lro(req, op, 201 if created else 200, sim.desktop.extension_body(ext))


def get_extension(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, sim.desktop.extension_body(sim.desktop.get_extension(p["rg"], p["name"], p["ext"])))
