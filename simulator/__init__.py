"""A local stand-in for Azure Resource Manager (compute, network, Compute Gallery).

The real ``azure-mgmt-compute`` / ``azure-mgmt-network`` clients talk to it in-process
(``sim.transport()``) or over loopback HTTP (``python -m simulator serve``). See
docs/simulator.md.
"""

from simulator.core import RequestLog, RequestLogEntry, Simulator
from simulator.transport import FakeCredential, HeaderAuthPolicy, InProcessTransport, client_kwargs

__all__ = [
    "FakeCredential",
    "HeaderAuthPolicy",
    "InProcessTransport",
    "RequestLog",
    "RequestLogEntry",
    "Simulator",
    "client_kwargs",
]
