"""Azure Functions entry point: a registry of blueprints, nothing else."""

import azure.functions as func

from functions import BLUEPRINTS
from shared import telemetry
from shared.config import check_mode

# Fail closed before any trigger is registered: inside Azure (WEBSITE_SITE_NAME) only CSPB_MODE=azure
# starts, so a missing setting can never run the sandbox sign-in and fixed tokens in production.
# Locally `func start` reads CSPB_MODE from local.settings.json.
check_mode()

# Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING is set; a no-op otherwise.
telemetry.configure()

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in BLUEPRINTS:
    app.register_functions(blueprint)
