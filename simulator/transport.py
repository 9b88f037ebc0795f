"""In-process azure-core transport and the ``client_kwargs`` helper."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from azure.core.credentials import AccessToken
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict

from simulator.app import DEFAULT_SUBSCRIPTION

if TYPE_CHECKING:
    from simulator.app import SimulatorApp as Simulator

IN_PROCESS_BASE_URL = "https://management.simulator.local"
FAKE_TOKEN = "simulator-token"  # noqa: S105 - not a secret: the simulator ignores tokens


class FakeCredential:
    """A TokenCredential that hands out a fixed, meaningless token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(FAKE_TOKEN, 4_102_444_800)

    def close(self) -> None:
        return None


class HeaderAuthPolicy(SansIOHTTPPolicy[Any, Any]):
    """Only sets ``Authorization`` (azure-core's bearer policy refuses plain http)."""

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.http_request.headers["Authorization"] = f"Bearer {FAKE_TOKEN}"


class _Internal:
    def close(self) -> None:
        return None


class _SimResponse(HttpResponseImpl):
    def __init__(self, request: Any, status: int, headers: dict[str, str], body: bytes) -> None:
        def _stream(response: Any, pipeline: Any = None, decompress: bool = True) -> Iterator[bytes]:
            yield body

        super().__init__(
            request=request,
            internal_response=_Internal(),
            status_code=status,
            reason="",
            content_type=headers.get("Content-Type", "application/json"),
            headers=case_insensitive_dict(headers),
            stream_download_generator=_stream,
        )
        self._content = body


class InProcessTransport(HttpTransport):  # type: ignore[type-arg]
    """Serves SDK requests by calling the simulator directly (no sockets).

    ``sleep()`` advances the virtual clock instead of blocking (retry back-off and LRO
    polling delays cost no real time), unless ``Simulator(advance_on_sleep=False)``.
    """

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def __enter__(self) -> InProcessTransport:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def sleep(self, duration: float) -> None:
        if self.sim.advance_on_sleep and duration > 0:
            with self.sim.lock:
                self.sim.clock.advance(duration)

    def send(self, request: Any, **kwargs: Any) -> Any:
        content = request.content if hasattr(request, "content") else request.data
        if isinstance(content, str):
            content = content.encode()
        elif content is not None and not isinstance(content, bytes):
            content = bytes(content.read()) if hasattr(content, "read") else bytes(content)
        status, headers, body = self.sim.handle(request.method, request.url, dict(request.headers), content)
        return _SimResponse(request, status, headers, body)


def client_kwargs(sim_or_url: Simulator | str, *, transport: Any = None) -> dict[str, Any]:
    """Keyword arguments for ``ComputeManagementClient(**kw)`` / ``NetworkManagementClient(**kw)``.

    Pass a ``Simulator`` for the in-process transport, or a server URL
    (``http://127.0.0.1:PORT``) for a running ``python -m simulator serve``.
    """
    kwargs: dict[str, Any] = {
        "credential": FakeCredential(),
        "authentication_policy": HeaderAuthPolicy(),
        "polling_interval": 0,
    }
    if not isinstance(sim_or_url, str):
        kwargs["subscription_id"] = sim_or_url.subscription_id
        kwargs["base_url"] = IN_PROCESS_BASE_URL
        kwargs["transport"] = transport or sim_or_url.transport()
    else:
        kwargs["subscription_id"] = DEFAULT_SUBSCRIPTION
        kwargs["base_url"] = sim_or_url.rstrip("/")
        if transport is not None:
            kwargs["transport"] = transport
    return kwargs
