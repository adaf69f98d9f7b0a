"""Self-service portal for the partner's end customers: a plain WSGI app (werkzeug routing, jinja2
templates) that runs inside the Functions host (functions/portal_http.py) or standalone
(`cspbridge portal`). Build it with `portal.app.create_app(settings, repo)`."""
