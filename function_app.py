"""Azure Functions entry point (v2 programming model): registers the blueprints, nothing else."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
