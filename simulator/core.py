"""The Simulator: owns the clock, backends, faults, request log and events; dispatches requests."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from simulator import routes
from simulator.app import DEFAULT_SUBSCRIPTION
from simulator.backends.base import Context
from simulator.backends.compute import ComputeBackend
from simulator.backends.desktop_virtualization import DesktopVirtualizationBackend
from simulator.backends.gallery import GalleryBackend
from simulator.backends.images import ImagesBackend
from simulator.backends.network import NetworkBackend
from simulator.clock import VirtualClock
from simulator.durations import merged
from simulator.errors import ArmError
from simulator.events import EventBus
from simulator.faults import Faults
from simulator.responses import Request, Response
from simulator.transport import InProcessTransport

DEFAULT_START = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RequestLogEntry:
    method: str
    path: str
    action: str  # ARM action the request is attributed to
    status: int
    time: datetime  # virtual time

    @property
    def is_read(self) -> bool:
        return self.method == "GET"


class RequestLog(list[RequestLogEntry]):
    """Every request served, attributed to its ARM action."""

    def counts(self) -> Counter[str]:
        """Number of requests per ARM action (reads end in ``/read``)."""
        return Counter(e.action for e in self)

    def totals(self) -> dict[str, int]:
        """Number of reads (GET) and writes (everything else)."""
        reads = sum(1 for e in self if e.is_read)
        return {"reads": reads, "writes": len(self) - reads}

    def actions(self) -> set[str]:
        return {e.action for e in self}


class Simulator:
    """A local Azure Resource Manager for compute, network and Compute Gallery."""

    def __init__(
        self,
        subscription_id: str = DEFAULT_SUBSCRIPTION,
        *,
        start: datetime = DEFAULT_START,
        durations: dict[str, float] | None = None,
        auto_advance_on_poll: bool = True,
        advance_on_sleep: bool = True,
    ) -> None:
        self.subscription_id = subscription_id
        self.start = start
        self._duration_overrides = dict(durations or {})
        self.auto_advance_on_poll = auto_advance_on_poll
        self.advance_on_sleep = advance_on_sleep
        self.clock = VirtualClock(start)
        self.faults = Faults()
        self.events = EventBus()
        self.request_log = RequestLog()
        self.lock = threading.RLock()
        self._build()

    def _build(self) -> None:
        self.ctx = Context(self.subscription_id, self.clock, merged(self._duration_overrides), self.faults, self.events)
        self.compute = ComputeBackend(self.ctx)
        self.network = NetworkBackend(self.ctx)
        self.gallery = GalleryBackend(self.ctx)
        self.images = ImagesBackend(self.ctx)
        self.ctx.compute = self.compute
        self.ctx.images = self.images
        self.ctx.network = self.network
        self.ctx.gallery = self.gallery
        self.desktop = DesktopVirtualizationBackend(self.ctx)

    @property
    def durations(self) -> dict[str, float]:
        return self.ctx.durations

    def reset(self) -> None:
        """Forget every resource, operation, fault, log entry and subscriber; rewind the clock."""
        with self.lock:
            self.clock.reset(self.start)
            self.faults.clear()
            self.events.reset()
            self.request_log.clear()
            self._build()

    # -- in-process access ---------------------------------------------------------------------
    def transport(self) -> Any:
        """An azure-core sync ``HttpTransport`` that serves requests in-process."""
        return InProcessTransport(self)

    def live_resources(self, tag: str | None = None, value: str | None = None) -> list[dict[str, Any]]:
        """Every resource that exists now (id, type, name, tags), optionally filtered by a tag."""
        items: list[Any] = [
            *(v.res for v in self.compute.vms.values()),
            *(d.res for d in self.compute.disks.values()),
            *(s.res for s in self.compute.snapshots.values()),
            *(i.res for i in self.images.images.values()),
            *(n.res for n in self.network.nics.values()),
            *(v.res for v in self.network.vnets.values()),
            *(g.res for g in self.gallery.galleries.values()),
            *(i.res for i in self.gallery.images.values()),
            *(v.res for v in self.gallery.versions.values()),
        ]
        result = []
        for res in items:
            if tag is not None:
                tags = {k.lower(): v for k, v in res.tags.items()}
                if tag.lower() not in tags or (value is not None and tags[tag.lower()] != value):
                    continue
            result.append({"id": res.id, "type": res.type, "name": res.name, "tags": dict(res.tags)})
        return result

    # -- dispatch --------------------------------------------------------------------------------
    def handle(
        self, method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Serve one HTTP request; returns (status, headers, body bytes)."""
        with self.lock:
            return self._handle(method.upper(), url, headers or {}, body)

    def _handle(
        self, method: str, url: str, headers: dict[str, str], raw: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        base_url = f"{parts.scheme}://{parts.netloc}" if parts.netloc else self.ctx.base_url
        path = unquote(parts.path).rstrip("/") or "/"
        query = {k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        self.ctx.base_url = base_url
        found = routes.match(method, path)
        action = found[0].action_for(found[1]) if found else f"unknown/{method}"
        response: Response
        try:
            if found is None:
                if routes.path_matches_any_method(path):
                    raise ArmError("MethodNotAllowed", f"The method '{method}' is not supported for {path}.", 405)
                raise ArmError("InvalidResourceType", f"The resource type for '{path}' could not be found.", 404)
            route, params = found
            if params.get("sub", self.subscription_id).lower() != self.subscription_id.lower():
                raise ArmError("SubscriptionNotFound", f"The subscription '{params['sub']}' could not be found.", 404)
            throttled = self._throttle(method)
            if throttled is not None:
                response = throttled
            else:
                fault = self.faults.check_request(action)
                if fault is not None:
                    raise fault
                body: Any = None
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError as exc:
                        raise ArmError(
                            "InvalidRequestContent",
                            "The request content was invalid and could not be deserialized.",
                            400,
                        ) from exc
                req = Request(method, path, query, headers, body, base_url)
                response = route.handler(self, req, params)
        except ArmError as err:
            response = Response(err.status, err.body())
        out_headers = self._headers(response, headers)
        self.request_log.append(RequestLogEntry(method, path, action, response.status, self.clock.now()))
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        return response.status, out_headers, payload

    def _throttle(self, method: str) -> Response | None:
        faults = self.faults
        bucket = faults.reads if method == "GET" else faults.writes
        if faults.storm_remaining > 0:
            faults.storm_remaining -= 1
            retry = faults.storm_retry_after
        else:
            wait = bucket.take(self.clock.now())
            if wait is None:
                return None
            retry = int(wait)
        err = ArmError(
            "TooManyRequests",
            "The request is being throttled as the limit has been reached for operation type - "
            f"{'Read' if method == 'GET' else 'Write'}_ObservationWindow_00:05:00. "
            "For more information, see - https://aka.ms/srpthrottlinglimits",
            429,
        )
        return Response(429, err.body(), {"Retry-After": str(max(1, retry))})

    def _headers(self, response: Response, req_headers: dict[str, str]) -> dict[str, str]:
        now = self.clock.now()
        self.faults.reads.refill(now)
        self.faults.writes.refill(now)
        lowered = {k.lower(): v for k, v in req_headers.items()}
        request_id = str(uuid.uuid4())
        out = {
            "Content-Type": "application/json; charset=utf-8",
            "x-ms-request-id": request_id,
            "x-ms-correlation-request-id": lowered.get("x-ms-client-request-id", request_id),
            "x-ms-ratelimit-remaining-subscription-reads": str(int(self.faults.reads.tokens)),
            "x-ms-ratelimit-remaining-subscription-writes": str(int(self.faults.writes.tokens)),
            "Date": now.strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "Cache-Control": "no-cache",
        }
        out.update(response.headers)
        return out
