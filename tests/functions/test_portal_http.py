import azure.functions as func

from functions import portal_http


def _call(url: str, method: str = "GET") -> func.HttpResponse:
    req = func.HttpRequest(method=method, url=url, headers={"Host": "127.0.0.1:7071"}, body=b"",
                           route_params={"path": url.split("/portal/", 1)[-1]})
    return portal_http.portal_http.build().get_user_function()(req, None)


def test_trigger_serves_the_wsgi_portal_under_the_host_route_prefix(monkeypatch, portal_app):
    monkeypatch.setattr(portal_http, "_middleware", func.WsgiMiddleware(portal_app))
    response = _call("http://127.0.0.1:7071/api/portal/healthz")
    assert response.status_code == 200 and response.get_body() == b"ok"
    response = _call("http://127.0.0.1:7071/api/portal/subscriptions")
    assert response.status_code == 302
    assert response.headers["Location"] == "/api/portal/signin"
    page = _call("http://127.0.0.1:7071/api/portal/signin")
    assert page.status_code == 200 and b'action="/api/portal/signin"' in page.get_body()
    assert "HttpOnly" in page.headers["Set-Cookie"]


def test_blueprint_is_registered():
    from functions import BLUEPRINT_MODULES

    assert "portal_http" in BLUEPRINT_MODULES
