"""Azure Virtual Desktop (Microsoft.DesktopVirtualization): host pools, session hosts, user sessions,
registration tokens, and the VM extension that installs the AVD agent and registers a VM.

Modelled on REST API 2024-04-03 (the api-version azure-mgmt-desktopvirtualization 2.0.0 sends);
sources are in docs/simulator.md, "Conformance: Desktop Virtualization". No HTTP here.

Users are simulated on the virtual clock, seeded: every session has a natural end (a working
day), and a user who is sent a message logs off a few minutes later with some probability
(most do, some keep working until forced off). Heartbeats are derived from the clock, so no
timer keeps the clock busy.
"""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from simulator.backends.base import AsyncOperation, Context, Resource, iso
from simulator.errors import ArmError, not_found

DV = "Microsoft.DesktopVirtualization"
DOMAIN = "avd.contoso.local"  # assumption: session host names are the VM's FQDN in the joined domain
AGENT_VERSION = "1.0.10159.600"
SXS_VERSION = "rdp-sxs250317003"
TOKEN_MIN = timedelta(hours=1)  # registrationInfo.expirationTime: at least one hour ahead ...
TOKEN_MAX = timedelta(days=30)  # ... and at most 30 days (Microsoft Learn, "Add session hosts to a host pool")
MESSAGE_RESPONSE_RATE = 0.8  # share of users who log off after a message (assumption)


@dataclass
class UserSession:
    id: str
    upn: str
    created: datetime
    ends: datetime  # when the user logs off on their own
    state: str = "Active"


@dataclass
class SessionHost:
    pool_id: str
    name: str  # FQDN
    resource_id: str  # the VM
    vm_id: str
    registered: datetime
    allow_new_session: bool = True
    sessions: dict[str, UserSession] = field(default_factory=dict)
    offline_since: datetime | None = None
    created: datetime | None = None
    messages: list[dict[str, str]] = field(default_factory=list)


@dataclass
class HostPool:
    res: Resource
    properties: dict[str, Any]
    token: str | None = None
    token_expires: datetime | None = None
    hosts: dict[str, SessionHost] = field(default_factory=dict)  # lower-cased name -> host


@dataclass
class VmExtension:
    res: Resource
    vm_id: str
    properties: dict[str, Any]


class DesktopVirtualizationBackend:
    def __init__(self, ctx: Context, seed: int = 14) -> None:
        self.ctx = ctx
        self.pools: dict[str, HostPool] = {}
        self.extensions: dict[str, VmExtension] = {}
        self.rng = random.Random(seed)  # noqa: S311 - reproducible simulated users, not security
        self._session_ids = 0
        ctx.events.subscribe(self._on_events)

    # -- helpers -----------------------------------------------------------------------------
    def _pool_id(self, rg: str, name: str) -> str:
        return self.ctx.resource_id(rg, f"{DV}/hostPools/{name}")

    def get_pool(self, rg: str, name: str) -> HostPool:
        pool = self.pools.get(self._pool_id(rg, name).lower())
        if pool is None:
            raise not_found(f"{DV}/hostPools", name, rg)
        return pool

    def get_host(self, rg: str, pool_name: str, host_name: str) -> SessionHost:
        pool = self.get_pool(rg, pool_name)
        host = pool.hosts.get(host_name.lower())
        if host is None:
            raise ArmError(
                "ResourceNotFound",
                f"SessionHost '{host_name}' was not found in host pool '{pool_name}'.",
                404,
            )
        self._settle(host)
        return host

    def _heartbeat_seconds(self) -> float:
        return self.ctx.seconds("avd_heartbeat")

    def _settle(self, host: SessionHost) -> None:
        """Users who logged off by now are gone."""
        now = self.ctx.now()
        for key in [k for k, s in host.sessions.items() if s.ends <= now]:
            host.sessions.pop(key)

    def _vm_named(self, rg: str, vm_name: str) -> Any:
        vm = self.ctx.compute.find_vm(self.ctx.resource_id(rg, f"Microsoft.Compute/virtualMachines/{vm_name}"))
        if vm is None:
            raise not_found("Microsoft.Compute/virtualMachines", vm_name, rg)
        return vm

    def _vm(self, host: SessionHost) -> Any:
        return self.ctx.compute.find_vm(host.resource_id)

    def status(self, host: SessionHost) -> tuple[str, datetime]:
        """(status, lastHeartBeat): heartbeats every interval while the VM runs and the agent is registered."""
        vm = self._vm(host)
        now = self.ctx.now()
        interval = self._heartbeat_seconds()
        if vm is None or vm.vm_id != host.vm_id or host.offline_since is not None:
            last = host.offline_since or host.registered
            return ("Unavailable" if vm is None or vm.power_state == "running" else "Shutdown"), last
        if vm.power_state != "running":
            return "Shutdown", host.offline_since or host.registered
        beats = int((now - host.registered).total_seconds() // interval) if interval > 0 else 0
        return "Available", host.registered + timedelta(seconds=beats * interval)

    def _on_events(self, events: list[dict[str, Any]]) -> None:
        """A deleted or stopped VM stops heart-beating; its users' sessions end with it."""
        for event in events:
            data = event.get("data") or {}
            op = str(data.get("operationName", "")).lower()
            if not event.get("eventType", "").endswith("Success"):
                continue
            stops = (
                "microsoft.compute/virtualmachines/delete",
                "microsoft.compute/virtualmachines/deallocate/action",
                "microsoft.compute/virtualmachines/poweroff/action",
            )
            if op not in stops:
                continue
            rid = str(data.get("resourceUri") or event.get("subject") or "").lower()
            if op.endswith("/delete"):
                for key in [k for k in self.extensions if k.startswith(rid + "/extensions/")]:
                    self.extensions.pop(key)
            for pool in self.pools.values():
                for host in pool.hosts.values():
                    if host.resource_id.lower() == rid and host.offline_since is None:
                        host.offline_since = self.ctx.now()
                        host.sessions.clear()

    # -- host pools ----------------------------------------------------------------------------
    def put_pool(self, rg: str, name: str, body: dict[str, Any]) -> tuple[HostPool, bool]:
        props = dict(body.get("properties") or {})
        rid = self._pool_id(rg, name)
        existing = self.pools.get(rid.lower())
        location = body.get("location") or (existing.res.location if existing else None)
        if not location:
            raise ArmError("LocationRequired", "The location property is required for this definition.", 400)
        if existing is None:
            for required in ("hostPoolType", "loadBalancerType", "preferredAppGroupType"):
                if not props.get(required):
                    raise ArmError(
                        "InvalidParameter", f"Required parameter '{required}' is missing (null).", target=required
                    )
            pool = HostPool(Resource(rid, name, f"{DV}/hostPools", location, rg, created=self.ctx.now()), {})
            pool.properties = {"objectId": str(uuid.uuid4()), "maxSessionLimit": 999999, "startVMOnConnect": False}
        else:
            pool = existing
            for immutable in ("hostPoolType",):
                if immutable in props and props[immutable] != pool.properties.get(immutable):
                    raise ArmError(
                        "PropertyChangeNotAllowed",
                        f"Changing property '{immutable}' is not allowed.",
                        target=immutable,
                    )
        registration = props.pop("registrationInfo", None)
        pool.properties.update({k: v for k, v in props.items() if k != "objectId"})
        if "tags" in body:
            pool.res.tags = dict(body.get("tags") or {})
        if registration:
            self._registration(pool, registration)
        self.pools[rid.lower()] = pool
        self.ctx.emit(f"{DV}/hostPools/write", rid, "Write", True, "PUT")
        return pool, existing is None

    def patch_pool(self, rg: str, name: str, body: dict[str, Any]) -> HostPool:
        pool = self.get_pool(rg, name)
        props = dict(body.get("properties") or {})
        if "hostPoolType" in props:
            raise ArmError("PropertyChangeNotAllowed", "Changing property 'hostPoolType' is not allowed.")
        registration = props.pop("registrationInfo", None)
        pool.properties.update({k: v for k, v in props.items() if k != "objectId"})
        if "tags" in body:
            pool.res.tags = dict(body.get("tags") or {})
        if registration:
            self._registration(pool, registration)
        self.ctx.emit(f"{DV}/hostPools/write", pool.res.id, "Write", True, "PATCH")
        return pool

    def _registration(self, pool: HostPool, info: dict[str, Any]) -> None:
        """registrationTokenOperation Update makes a new token valid until expirationTime; Delete revokes it."""
        operation = str(info.get("registrationTokenOperation") or "None")
        if operation.lower() == "delete":
            pool.token, pool.token_expires = None, None
            return
        if operation.lower() != "update":
            return
        text = info.get("expirationTime")
        if not text:
            raise ArmError("InvalidParameter", "registrationInfo.expirationTime is required to update the token.")
        expires = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        now = self.ctx.now()
        if expires < now + TOKEN_MIN or expires > now + TOKEN_MAX:
            raise ArmError(
                "InvalidParameter",
                "The registration token expiration time must be between 1 hour and 30 days from now.",
                target="registrationInfo.expirationTime",
            )
        pool.token = "eyJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(48)
        pool.token_expires = expires

    def pool_body(self, pool: HostPool, with_token: bool = False) -> dict[str, Any]:
        props = dict(pool.properties)
        valid = pool.token is not None and pool.token_expires is not None and pool.token_expires > self.ctx.now()
        props["registrationInfo"] = {
            "expirationTime": iso(pool.token_expires) if valid and pool.token_expires else None,
            "token": pool.token if valid and with_token else None,
            "registrationTokenOperation": "Update" if valid else "None",
        }
        props.setdefault("cloudPcResource", False)
        return {**pool.res.envelope(), "properties": props}

    def list_pools(self, rg: str | None) -> list[HostPool]:
        return [p for p in self.pools.values() if rg is None or p.res.resource_group.lower() == rg.lower()]

    def delete_pool(self, rg: str, name: str) -> None:
        pool = self.pools.get(self._pool_id(rg, name).lower())
        if pool is None:
            return
        if pool.hosts:
            raise ArmError("Conflict", f"Host pool '{name}' still has session hosts; remove them first.", 409)
        self.pools.pop(pool.res.id.lower())

    def registration_token(self, rg: str, name: str) -> dict[str, Any]:
        pool = self.get_pool(rg, name)
        valid = pool.token is not None and pool.token_expires is not None and pool.token_expires > self.ctx.now()
        return {
            "expirationTime": iso(pool.token_expires) if valid and pool.token_expires else None,
            "token": pool.token if valid else None,
            "registrationTokenOperation": "Update" if valid else "None",
        }

    # -- session hosts ---------------------------------------------------------------------------
    def host_body(self, host: SessionHost) -> dict[str, Any]:
        self._settle(host)
        pool = self.pools[host.pool_id.lower()]
        status, heartbeat = self.status(host)
        return {
            "name": f"{pool.res.name}/{host.name}",
            "id": f"{pool.res.id}/sessionHosts/{host.name}",
            "type": f"{DV}/hostPools/sessionHosts",
            "properties": {
                "objectId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{pool.res.id}/{host.name}")),
                "lastHeartBeat": iso(heartbeat),
                "sessions": len(host.sessions),
                "agentVersion": AGENT_VERSION,
                "allowNewSession": host.allow_new_session,
                "status": status,
                "statusTimestamp": iso(heartbeat),
                "osVersion": "10.0.26100",
                "sxSStackVersion": SXS_VERSION,
                "updateState": "Succeeded",
                "virtualMachineId": host.vm_id,
                "resourceId": host.resource_id,
                "friendlyName": "",
            },
        }

    def list_hosts(self, rg: str, pool_name: str) -> list[SessionHost]:
        pool = self.get_pool(rg, pool_name)
        return sorted(pool.hosts.values(), key=lambda h: h.name)

    def patch_host(self, rg: str, pool_name: str, host_name: str, body: dict[str, Any]) -> SessionHost:
        host = self.get_host(rg, pool_name, host_name)
        props = body.get("properties") or {}
        if "allowNewSession" in props:
            if not isinstance(props["allowNewSession"], bool):
                raise ArmError("InvalidParameter", "allowNewSession must be true or false.", target="allowNewSession")
            host.allow_new_session = props["allowNewSession"]
        self.ctx.emit(
            f"{DV}/hostPools/sessionHosts/write", f"{host.pool_id}/sessionHosts/{host.name}", "Write", True, "PATCH"
        )
        return host

    def delete_host(self, rg: str, pool_name: str, host_name: str, force: bool) -> None:
        pool = self.get_pool(rg, pool_name)
        host = pool.hosts.get(host_name.lower())
        if host is None:
            return
        self._settle(host)
        if host.sessions and not force:
            raise ArmError(
                "BadRequest",
                f"SessionHost '{host_name}' has {len(host.sessions)} user session(s); log them off or use force=true.",
                400,
            )
        pool.hosts.pop(host_name.lower())
        self.ctx.emit(
            f"{DV}/hostPools/sessionHosts/delete", f"{pool.res.id}/sessionHosts/{host.name}", "Delete", True, "DELETE"
        )

    # -- user sessions -----------------------------------------------------------------------------
    def add_sessions(self, rg: str, pool_name: str, host_name: str, count: int) -> list[UserSession]:
        """Users sign in (not an ARM API: the simulation's users). Each works a seeded stretch of a day."""
        host = self.get_host(rg, pool_name, host_name)
        now = self.ctx.now()
        added = []
        for _ in range(count):
            self._session_ids += 1
            sid = str(self._session_ids)
            ends = now + timedelta(hours=self.rng.uniform(2.0, 9.0))
            session = UserSession(sid, f"user{sid}@contoso.com", now, ends)
            host.sessions[sid] = session
            added.append(session)
        return added

    def session_body(self, host: SessionHost, session: UserSession) -> dict[str, Any]:
        pool = self.pools[host.pool_id.lower()]
        return {
            "name": f"{pool.res.name}/{host.name}/{session.id}",
            "id": f"{pool.res.id}/sessionHosts/{host.name}/userSessions/{session.id}",
            "type": f"{DV}/hostPools/sessionHosts/userSessions",
            "properties": {
                "objectId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{pool.res.id}/{host.name}/{session.id}")),
                "userPrincipalName": session.upn,
                "applicationType": "Desktop",
                "sessionState": session.state,
                "activeDirectoryUserName": f"CONTOSO\\{session.upn.split('@')[0]}",
                "createTime": iso(session.created),
            },
        }

    def _session(self, rg: str, pool_name: str, host_name: str, session_id: str) -> tuple[SessionHost, UserSession]:
        host = self.get_host(rg, pool_name, host_name)
        session = host.sessions.get(session_id)
        if session is None:
            raise ArmError("ResourceNotFound", f"UserSession '{session_id}' was not found.", 404)
        return host, session

    def send_message(self, rg: str, pool_name: str, host_name: str, session_id: str, body: dict[str, Any]) -> None:
        """Most users save their work and log off a few minutes after the message; the rest carry on."""
        host, session = self._session(rg, pool_name, host_name, session_id)
        title, text = body.get("messageTitle"), body.get("messageBody")
        if not isinstance(text, str) or not text:
            raise ArmError("InvalidParameter", "messageBody is required.", target="messageBody")
        host.messages.append({"session": session_id, "title": str(title or ""), "body": text})
        if self.rng.random() < MESSAGE_RESPONSE_RATE:
            leave = self.ctx.now() + timedelta(minutes=self.rng.uniform(1.0, 20.0))
            session.ends = min(session.ends, leave)

    def log_off(self, rg: str, pool_name: str, host_name: str, session_id: str, force: bool) -> None:
        host = self.get_host(rg, pool_name, host_name)
        if session_id in host.sessions:
            host.sessions.pop(session_id)

    def disconnect(self, rg: str, pool_name: str, host_name: str, session_id: str) -> None:
        _, session = self._session(rg, pool_name, host_name, session_id)
        session.state = "Disconnected"

    # -- the AVD agent extension: registration ---------------------------------------------------------------
    def put_extension(
        self, rg: str, vm_name: str, name: str, body: dict[str, Any]
    ) -> tuple[VmExtension, AsyncOperation, bool]:
        vm = self._vm_named(rg, vm_name)
        props = dict(body.get("properties") or {})
        for required in ("publisher", "type", "typeHandlerVersion"):
            if not props.get(required):
                raise ArmError(
                    "InvalidParameter", f"Required parameter '{required}' is missing (null).", target=required
                )
        rid = f"{vm.res.id}/extensions/{name}"
        existing = self.extensions.get(rid.lower())
        protected = props.pop("protectedSettings", None) or {}
        ext = VmExtension(
            Resource(
                rid, name, "Microsoft.Compute/virtualMachines/extensions", vm.res.location, rg, created=self.ctx.now()
            ),
            vm.res.id,
            {**props, "provisioningState": "Creating"},
        )
        self.extensions[rid.lower()] = ext
        settings = props.get("settings") or {}
        inner = settings.get("properties") or {}
        pool_name = str(inner.get("hostPoolName") or "")
        token = str(
            ((protected.get("Items") or protected.get("items") or {}).get("RegistrationInfoToken"))
            or inner.get("registrationInfoToken")
            or ""
        )
        is_agent = (
            str(props.get("type")).lower() == "dsc"
            and "addsessionhost" in str(settings.get("configurationFunction", "")).lower()
        )
        vm_uid = vm.vm_id

        def done() -> None:
            if is_agent:
                self._register(vm, pool_name, token, vm_uid)
            ext.properties["provisioningState"] = "Succeeded"

        def failed(_: ArmError) -> None:
            ext.properties["provisioningState"] = "Failed"

        op = self.ctx.start_operation(
            "Microsoft.Compute/virtualMachines/extensions/write",
            rid,
            vm.res.location,
            self.ctx.seconds("avd_agent_install") if is_agent else self.ctx.seconds("vm_update"),
            kind="Write",
            http_method="PUT",
            on_success=done,
            on_failure=failed,
        )
        return ext, op, existing is None

    def _register(self, vm: Any, pool_name: str, token: str, vm_uid: str) -> None:
        """The agent registers the VM with the pool whose valid token it was given."""
        now = self.ctx.now()
        pool = next(
            (p for p in self.pools.values() if p.token and token and secrets.compare_digest(p.token, token)), None
        )
        if pool is None or pool.token_expires is None or pool.token_expires <= now:
            raise ArmError(
                "VMExtensionProvisioningError",
                "VM has reported a failure when processing extension 'Microsoft.PowerShell.DSC'. Error message: "
                f"registration of the AVD agent with host pool '{pool_name}' failed: the registration token is "
                "missing, invalid or expired.",
                400,
            )
        computer = (vm.body.get("osProfile") or {}).get("computerName") or vm.res.name
        fqdn = f"{computer}.{DOMAIN}".lower()
        host = pool.hosts.get(fqdn)
        if host is None:
            host = SessionHost(pool.res.id, fqdn, vm.res.id, vm_uid, now, created=now)
            pool.hosts[fqdn] = host
        else:  # the same name again (a re-imaged host whose object was kept): the object is reused
            host.resource_id, host.vm_id, host.registered = vm.res.id, vm_uid, now
        host.offline_since = None
        host.sessions.clear()

    def extension_body(self, ext: VmExtension) -> dict[str, Any]:
        return {**ext.res.envelope(), "properties": dict(ext.properties)}

    def get_extension(self, rg: str, vm_name: str, name: str) -> VmExtension:
        vm = self._vm_named(rg, vm_name)
        ext = self.extensions.get(f"{vm.res.id}/extensions/{name}".lower())
        if ext is None or ext.vm_id.lower() != vm.res.id.lower():
            raise not_found("Microsoft.Compute/virtualMachines/extensions", name, rg)
        return ext
