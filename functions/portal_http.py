"""HTTP trigger for the customer portal: every path under portal/ goes to the WSGI app
(portal/app.py, built by jobs/portal.py) through azure.functions.WsgiMiddleware. The app is built once per worker."""

from __future__ import annotations

import threading

import azure.functions as func

bp = func.Blueprint()
_lock = threading.Lock()
_middleware: func.WsgiMiddleware | None = None


def _portal() -> func.WsgiMiddleware:
    global _middleware
    with _lock:
        if _middleware is None:
            from jobs.portal import wsgi_app

            _middleware = func.WsgiMiddleware(wsgi_app())
        return _middleware


@bp.route(route="portal/{*path}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def portal_http(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    # The portal does its own sign-in (Entra ID); a function key would lock customers out.
    response: func.HttpResponse = _portal().handle(req, context)
    return response
