"""The status page, behind Entra ID (App Service Authentication, readers group): the image catalog
with badges and per-workload timelines. The JSON API keeps function keys for automation.

Served as one self-contained HTML document: inline CSS and SVG, no scripts, nothing from a CDN.
"""

from __future__ import annotations

import os

import azure.functions as func

from shared import bootstrap

bp = func.Blueprint()


@bp.function_name("status_page")
@bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def status_page(req: func.HttpRequest) -> func.HttpResponse:
    from shared.identity.easyauth import status_reader_refusal

    refusal = status_reader_refusal(req.headers, os.environ)
    if refusal:
        return func.HttpResponse(refusal, status_code=401, mimetype="text/plain", charset="utf-8")
    from shared.hostpools_view import estate
    from shared.render import status_html
    from shared.report import needs_attention
    from shared.views import catalog_view, history

    deps = bootstrap.entrypoints().deps
    summaries = catalog_view(deps, with_usage=req.params.get("usage", "true") != "false")
    events = {s.name: history(deps, s.name) for s in summaries}
    return func.HttpResponse(
        status_html(summaries, events, deps.clock.now(), estate(deps), attention=needs_attention(deps)),
        status_code=200,
        mimetype="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
