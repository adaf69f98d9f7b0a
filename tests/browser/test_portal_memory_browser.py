"""A new user's first hour: `cspbridge portal --memory` run as the README says, then headless Chromium
signs in as Fabio, pays INV-0002 with a new card typed on the Stripe sandbox's page (which the command
started in-process), and opens the receipt."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason="/usr/bin/chromium is not installed (CI installs it and never skips)"),
]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def memory_portal_command(tmp_path):
    """`cspbridge portal --memory` in its own process; yields (portal URL, everything it printed so far)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSPB_")}
    env.update({"CSPB_MODE": "sandbox", "CSPB_LOCAL_BLOB_ROOT": str(tmp_path / "blobs"), "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "portal", "--memory", "--port", str(_free_port())],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.match(r"portal: (http://127\.0\.0\.1:\d+/portal)/", line)
            if found:
                yield found.group(1), "".join(lines)
                return
        pytest.fail("the portal did not start:\n" + "".join(lines))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_first_hour_pay_an_invoice_with_a_new_card_in_the_memory_portal(page, memory_portal_command):
    base, printed = memory_portal_command
    assert re.search(r"payments: Stripe sandbox at http://127\.0\.0\.1:\d+", printed), printed
    page.goto(base + "/lang/en?next=/portal/signin")
    page.goto(base + "/signin")
    page.select_option("#contact_id", "f-admin")
    page.click("#signin-button")
    page.wait_for_selector("text=Welcome, Fabio Garcia")
    page.goto(base + "/invoices/i-fab")
    page.click("#pay-new-card")
    page.wait_for_selector("#cardNumber")  # the Stripe sandbox's hosted page, not "not available"
    assert "TEST MODE" in page.content()
    page.fill("#cardNumber", "4242 4242 4242 4242")
    page.fill("#cardExpiry", "12 / 34")
    page.fill("#cardCvc", "123")
    page.fill("#billingName", "Fabio Garcia")
    page.click("#submitButton")
    page.wait_for_selector("#payment-result")
    assert page.url.startswith(base + "/invoices/i-fab?payment=pay-"), page.url
    assert re.search(r"Thank you: .*1,428\.00 was paid", page.inner_text("#payment-result"))
    page.click("#payment-history a.receipt")
    page.wait_for_selector("#receipt")
    assert "INV-0002" in page.inner_text("#receipt")
    page.goto(base + "/payment")
    assert "On file" in page.content()
