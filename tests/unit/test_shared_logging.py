import json
import logging

from shared.logging import RedactingJsonFormatter, redact, register_secrets


def test_known_secret_values_are_masked_anywhere():
    register_secrets(["hunter2-very-secret"])
    assert "hunter2" not in redact("connecting with hunter2-very-secret now")


def test_patterns_mask_sas_signatures_bearer_tokens_and_keys():
    text = ("GET https://x.blob.core.windows.net/c/b?sv=2024&sig=AbC%2Bdef123 "
            "Authorization: Bearer eyJ0eXAiOi.abc.def client_secret=zzz AccountKey=abc123==;")
    out = redact(text)
    for leaked in ("AbC%2Bdef123", "eyJ0eXAiOi", "zzz", "abc123=="):
        assert leaked not in out
    assert "sv=2024" in out


def test_json_formatter_masks_secret_named_extra_fields():
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "charge %s", ("ok",), None)
    record.payment_token = "tok_visa_123"
    record.invoice = "INV-1"
    payload = json.loads(RedactingJsonFormatter().format(record))
    assert payload["payment_token"] == "***"
    assert payload["invoice"] == "INV-1"
    assert payload["message"] == "charge ok"
