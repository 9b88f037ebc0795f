"""Azure Functions entry point (v2 programming model): registers the blueprints, nothing else."""

import azure.functions as func

from functions import api, approvals, dead_letters, events, status, steps, timers

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (steps.bp, approvals.bp, events.bp, timers.bp, api.bp, status.bp, dead_letters.bp):
    app.register_functions(blueprint)
