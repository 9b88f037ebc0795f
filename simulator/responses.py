"""The thin response layer: turn a parsed request into a backend call and serialize the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator.backends.base import AsyncOperation, Resource
from simulator.errors import ArmError

if TYPE_CHECKING:
    from simulator.app import SimulatorApp as Simulator

LRO_RETRY_AFTER = "10"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]  # lower-cased keys
    headers: dict[str, str]
    body: Any
    base_url: str

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "2024-07-01")


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Params = dict[str, str]


def _lro(req: Request, op: AsyncOperation, status: int, body: Any = None) -> Response:
    # Compute Gallery operations are monitored under capsOperations (the GalleryRP examples' headers).
    kind = "capsOperations" if "/galleries" in op.operation_name.lower() else "operations"
    url = (
        f"{req.base_url}/subscriptions/{req.path.split('/')[2]}/providers/{op.provider}/locations/"
        f"{op.location.replace(' ', '').lower()}/{kind}/{op.id}?api-version={req.api_version}"
    )
    return Response(
        status,
        body,
        {"Azure-AsyncOperation": url, "Location": url + "&monitor=true", "Retry-After": LRO_RETRY_AFTER},
    )


def _list(items: list[dict[str, Any]]) -> Response:
    return Response(200, {"value": items})


def _expand(req: Request) -> str:
    return req.query.get("$expand", "").lower()


def _body(req: Request) -> dict[str, Any]:
    if not isinstance(req.body, dict):
        raise ArmError("InvalidRequestContent", "The request content was invalid and could not be deserialized.", 400)
    return req.body


# -- operations -------------------------------------------------------------------------------------
def get_operation(sim: Simulator, req: Request, p: Params) -> Response:
    op = sim.ctx.operations.get(p["opid"])
    if op is None:
        raise ArmError("NotFound", f"The operation '{p['opid']}' was not found.", 404)
    if not op.done and sim.auto_advance_on_poll:
        sim.clock.advance_to(op.due)
    if req.query.get("monitor", "").lower() == "true":
        if not op.done:
            return Response(
                202, None, {"Location": f"{req.base_url}{req.path}?{_qs(req)}", "Retry-After": LRO_RETRY_AFTER}
            )
        if op.status == "Failed" and op.error is not None:
            return Response(op.error.status, op.error.body())
        if op.output is not None:
            return Response(200, op.output)
        return Response(200, None)
    headers = {} if op.done else {"Retry-After": LRO_RETRY_AFTER}
    return Response(200, op.status_body(), headers)


def _qs(req: Request) -> str:
    return "&".join(f"{k}={v}" for k, v in req.query.items())


# -- resource groups ----------------------------------------------------------------------------------
def _rg_body(res: Resource) -> dict[str, Any]:
    return {
        "id": res.id,
        "name": res.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": res.location,
        "tags": dict(res.tags),
        "properties": {"provisioningState": "Succeeded"},
    }


def put_rg(sim: Simulator, req: Request, p: Params) -> Response:
    body = _body(req)
    existed = p["rg"].lower() in sim.ctx.resource_groups
    res = sim.ctx.ensure_rg(p["rg"], body.get("location") or "westeurope")
    if "tags" in body:
        res.tags = dict(body.get("tags") or {})
    if body.get("location"):
        res.location = body["location"]
    return Response(200 if existed else 201, _rg_body(res))


def get_rg(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, _rg_body(sim.ctx.ensure_rg(p["rg"])))


# -- virtual machines ------------------------------------------------------------------------------------
def put_vm(sim: Simulator, req: Request, p: Params) -> Response:
    vm, op, created = sim.compute.put_vm(p["rg"], p["name"], _body(req))
    return _lro(req, op, 201 if created else 200, sim.compute.vm_body(vm))


def get_vm(sim: Simulator, req: Request, p: Params) -> Response:
    vm = sim.compute.get_vm(p["rg"], p["name"])
    expand = _expand(req)
    return Response(
        200,
        sim.compute.vm_body(vm, expand_instance_view="instanceview" in expand, expand_user_data="userdata" in expand),
    )


def list_vms(sim: Simulator, req: Request, p: Params) -> Response:
    return _list([sim.compute.vm_body(v) for v in sim.compute.list_vms(p.get("rg"))])


def list_scale_sets(sim: Simulator, req: Request, p: Params) -> Response:
    """Scale sets are not simulated: the listing is always empty, as in a subscription without any."""
    return _list([])


def delete_vm(sim: Simulator, req: Request, p: Params) -> Response:
    op = sim.compute.delete_vm(p["rg"], p["name"])
    return Response(204) if op is None else _lro(req, op, 202)


def vm_instance_view(sim: Simulator, req: Request, p: Params) -> Response:
    vm = sim.compute.get_vm(p["rg"], p["name"])
    return Response(200, sim.compute.instance_view(vm))


def vm_action(sim: Simulator, req: Request, p: Params) -> Response:
    action = p["action"]
    canonical = {a.lower(): a for a in ("start", "powerOff", "deallocate", "restart")}[action.lower()]
    op = sim.compute.power_action(p["rg"], p["name"], canonical)
    return _lro(req, op, 202)


def vm_generalize(sim: Simulator, req: Request, p: Params) -> Response:
    sim.compute.generalize(p["rg"], p["name"])
    return Response(200)


def vm_run_command(sim: Simulator, req: Request, p: Params) -> Response:
    op = sim.compute.run_command(p["rg"], p["name"], _body(req))
    return _lro(req, op, 202)


# -- disks & snapshots --------------------------------------------------------------------------------------
def _is_snapshot(p: Params) -> bool:
    return p["kind"].lower() == "snapshots"


def put_disk(sim: Simulator, req: Request, p: Params) -> Response:
    snap = _is_snapshot(p)
    disk, op, created = sim.compute.put_disk(p["rg"], p["name"], _body(req), snapshot=snap)
    return _lro(req, op, 202 if created else 200, sim.compute.disk_body(disk, snapshot=snap))


def get_disk(sim: Simulator, req: Request, p: Params) -> Response:
    snap = _is_snapshot(p)
    return Response(200, sim.compute.disk_body(sim.compute.get_disk(p["rg"], p["name"], snapshot=snap), snapshot=snap))


def list_disks(sim: Simulator, req: Request, p: Params) -> Response:
    snap = _is_snapshot(p)
    return _list([sim.compute.disk_body(d, snapshot=snap) for d in sim.compute.list_disks(p.get("rg"), snapshot=snap)])


def delete_disk(sim: Simulator, req: Request, p: Params) -> Response:
    op = sim.compute.delete_disk(p["rg"], p["name"], snapshot=_is_snapshot(p))
    return Response(204) if op is None else _lro(req, op, 202)


# -- managed images ---------------------------------------------------------------------------------------------
def put_managed_image(sim: Simulator, req: Request, p: Params) -> Response:
    image, op, created = sim.images.put(p["rg"], p["name"], _body(req))
    return _lro(req, op, 201 if created else 200, sim.images.body(image))


def get_managed_image(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, sim.images.body(sim.images.get(p["rg"], p["name"])))


def delete_managed_image(sim: Simulator, req: Request, p: Params) -> Response:
    op = sim.images.delete(p["rg"], p["name"])
    return Response(204) if op is None else _lro(req, op, 202)


# -- marketplace ------------------------------------------------------------------------------------------------
def list_image_versions(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, sim.compute.marketplace_versions(p["loc"], p["pub"], p["offer"], p["sku"]))


def get_image_version(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, sim.compute.marketplace_version(p["loc"], p["pub"], p["offer"], p["sku"], p["version"]))


# -- network -------------------------------------------------------------------------------------------------------
def put_vnet(sim: Simulator, req: Request, p: Params) -> Response:
    vnet, op, created = sim.network.put_vnet(p["rg"], p["name"], _body(req))
    return _lro(req, op, 201 if created else 200, sim.network.vnet_body(vnet))


def get_vnet(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, sim.network.vnet_body(sim.network.get_vnet(p["rg"], p["name"])))


def list_vnets(sim: Simulator, req: Request, p: Params) -> Response:
    return _list([sim.network.vnet_body(v) for v in sim.network.list_vnets(p["rg"])])


def delete_vnet(sim: Simulator, req: Request, p: Params) -> Response:
    op = sim.network.delete_vnet(p["rg"], p["name"])
    return Response(204) if op is None else _lro(req, op, 202)


def put_subnet(sim: Simulator, req: Request, p: Params) -> Response:
    subnet, op, created = sim.network.put_subnet(p["rg"], p["vnet"], p["name"], _body(req))
    return _lro(req, op, 201 if created else 200, sim.network.subnet_body(subnet))


def get_subnet(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, sim.network.subnet_body(sim.network.get_subnet(p["rg"], p["vnet"], p["name"])))


def list_subnets(sim: Simulator, req: Request, p: Params) -> Response:
    return _list([sim.network.subnet_body(s) for s in sim.network.get_vnet(p["rg"], p["vnet"]).subnets.values()])


def put_nic(sim: Simulator, req: Request, p: Params) -> Response:
    nic, op, created = sim.network.put_nic(p["rg"], p["name"], _body(req))
    return _lro(req, op, 201 if created else 200, sim.network.nic_body(nic))


def get_nic(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, sim.network.nic_body(sim.network.get_nic(p["rg"], p["name"])))


def list_nics(sim: Simulator, req: Request, p: Params) -> Response:
    return _list([sim.network.nic_body(n) for n in sim.network.list_nics(p["rg"])])


def delete_nic(sim: Simulator, req: Request, p: Params) -> Response:
    op = sim.network.delete_nic(p["rg"], p["name"])
    return Response(204) if op is None else _lro(req, op, 202)


# -- galleries ------------------------------------------------------------------------------------------------------
def put_gallery(sim: Simulator, req: Request, p: Params) -> Response:
    gallery, op, created = sim.gallery.put_gallery(p["rg"], p["gallery"], _body(req))
    return _lro(req, op, 201 if created else 200, sim.gallery.gallery_body(gallery))


def get_gallery(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, sim.gallery.gallery_body(sim.gallery.get_gallery(p["rg"], p["gallery"])))


def list_galleries(sim: Simulator, req: Request, p: Params) -> Response:
    return _list([sim.gallery.gallery_body(g) for g in sim.gallery.list_galleries(p["rg"])])


def delete_gallery(sim: Simulator, req: Request, p: Params) -> Response:
    op = sim.gallery.delete_gallery(p["rg"], p["gallery"])
    return Response(204) if op is None else _lro(req, op, 202)


def put_image(sim: Simulator, req: Request, p: Params) -> Response:
    image, op, created = sim.gallery.put_image(p["rg"], p["gallery"], p["image"], _body(req))
    return _lro(req, op, 201 if created else 200, sim.gallery.image_body(image))


def get_image(sim: Simulator, req: Request, p: Params) -> Response:
    return Response(200, sim.gallery.image_body(sim.gallery.get_image(p["rg"], p["gallery"], p["image"])))


def list_images(sim: Simulator, req: Request, p: Params) -> Response:
    return _list([sim.gallery.image_body(i) for i in sim.gallery.list_images(p["rg"], p["gallery"])])


def delete_image(sim: Simulator, req: Request, p: Params) -> Response:
    op = sim.gallery.delete_image(p["rg"], p["gallery"], p["image"])
    return Response(204) if op is None else _lro(req, op, 202)


def put_version(sim: Simulator, req: Request, p: Params) -> Response:
    patch = req.method == "PATCH"
    version, op, created = sim.gallery.put_version(
        p["rg"], p["gallery"], p["image"], p["version"], _body(req), patch=patch
    )
    return _lro(req, op, 201 if created else 200, sim.gallery.version_body(version))


def get_version(sim: Simulator, req: Request, p: Params) -> Response:
    version = sim.gallery.get_version(p["rg"], p["gallery"], p["image"], p["version"])
    return Response(200, sim.gallery.version_body(version, "replicationstatus" in _expand(req)))


def list_versions(sim: Simulator, req: Request, p: Params) -> Response:
    versions = sim.gallery.list_versions(p["rg"], p["gallery"], p["image"])
    return _list([sim.gallery.version_body(v) for v in versions])


def delete_version(sim: Simulator, req: Request, p: Params) -> Response:
    op = sim.gallery.delete_version(p["rg"], p["gallery"], p["image"], p["version"])
    return Response(204) if op is None else _lro(req, op, 202)
