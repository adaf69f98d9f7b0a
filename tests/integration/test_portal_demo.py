import pytest

pytestmark = pytest.mark.integration


def test_demo_step_serves_the_portal_and_writes_the_assessment(dv_server, stripe_server, tmp_path, monkeypatch):
    import requests

    from cli.demo_portal import run_demo_step, stop_servers
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_STRIPE_API_BASE", stripe_server.url)
    reset_settings()
    try:
        lines = run_demo_step(tmp_path, card_entry=True)
        url = lines[0].split()[1]
        assert requests.get(url + "signin", timeout=5).status_code == 200
        assert "USD: MRR 364.00" in "\n".join(lines)
        assert len(list((tmp_path / "assessment").glob("kpis-*.html"))) == 1
        # a card added on the hosted page over HTTP, then the invoice paid with it
        text = "\n".join(lines)
        assert "Visa card ending in 4242 is saved" in text or "Visa terminada en 4242" in text, text
        assert "invoice paid with it: succeeded 1428.00" in text
    finally:
        stop_servers()
