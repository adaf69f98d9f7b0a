"""Azure Functions entry point: a registry of blueprints, nothing else."""

import azure.functions as func

from functions import BLUEPRINTS
from shared import telemetry

# Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING is set; a no-op otherwise.
telemetry.configure()

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in BLUEPRINTS:
    app.register_functions(blueprint)
