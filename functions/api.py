"""Read-only HTTP API (function-level auth): the catalog, one workload's versions and history."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from shared import bootstrap
from shared.domain.errors import InvalidInput, RequestRefused

bp = func.Blueprint()


def _json(payload: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(payload, default=str, indent=2), status_code=status, mimetype="application/json"
    )


def _error(error: Exception, status: int) -> func.HttpResponse:
    return _json({"error": {"code": type(error).__name__, "message": str(error)}}, status)


@bp.function_name("catalog")
@bp.route(route="catalog", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def catalog(req: func.HttpRequest) -> func.HttpResponse:
    from shared.views import catalog_view

    deps = bootstrap.entrypoints().deps
    return _json([w.model_dump(mode="json") for w in catalog_view(deps, with_usage=req.params.get("usage") == "true")])


@bp.function_name("workload_versions")
@bp.route(route="workloads/{workload}/versions", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def workload_versions(req: func.HttpRequest) -> func.HttpResponse:
    from shared.views import workload_summary

    deps = bootstrap.entrypoints().deps
    try:
        workload = deps.workload(req.route_params.get("workload", ""))
    except RequestRefused as error:
        return _error(error, 404)
    return _json(workload_summary(workload, deps).model_dump(mode="json"))


@bp.function_name("workload_history")
@bp.route(route="workloads/{workload}/history", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def workload_history(req: func.HttpRequest) -> func.HttpResponse:
    from shared.views import event_row, history

    deps = bootstrap.entrypoints().deps
    try:
        events = history(deps, req.route_params.get("workload", ""))
    except RequestRefused as error:
        return _error(error, 404)
    except InvalidInput as error:
        return _error(error, 400)
    return _json([event_row(e).model_dump(mode="json") for e in sorted(events, key=lambda e: (e.at, e.seq))])


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Disabled workloads (invalid catalog files) and each workload's last reconcile pass."""
    deps = bootstrap.entrypoints().deps
    found = {w.name: deps.records.get_health(w.name) for w in deps.catalog.workloads}
    return _json(
        {
            "disabled": [d.model_dump(mode="json") for d in deps.catalog.disabled],
            "workloads": {name: h.model_dump(mode="json") if h else None for name, h in found.items()},
        }
    )
