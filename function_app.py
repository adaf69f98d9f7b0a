"""Azure Functions entry point: a registry of blueprints, nothing else."""

import azure.functions as func

from functions import BLUEPRINTS

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in BLUEPRINTS:
    app.register_functions(blueprint)
