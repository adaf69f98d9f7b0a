import json
import logging

import pytest

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


def _capture(logger_name: str, handler_first: bool):  # type: ignore[no-untyped-def]
    import io

    from shared.logging import get_logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(exc_text)s"))
    target = logging.getLogger(logger_name)
    if handler_first:
        target.addHandler(handler)
    log = get_logger(logger_name) if logger_name.startswith("cspb") else target
    if not handler_first:
        target.addHandler(handler)  # a handler added after the logger, as the Functions host does
    return log, handler, stream



@pytest.mark.parametrize("logger_name", ["cspb.test.ours", "azure.core.pipeline.test"])
@pytest.mark.parametrize("handler_first", [True, False])
def test_no_secret_reaches_any_handler_in_any_order(logger_name, handler_first) -> None:
    register_secrets(["s3cr3t-client-secret-value"])
    log, handler, stream = _capture(logger_name, handler_first)
    log.setLevel(logging.INFO)
    try:
        log.info("token request client_secret=%s", "s3cr3t-client-secret-value")
        log.warning("GET https://acct.blob.core.windows.net/c/b?sv=1&sig=AbCdEf123 failed")
        try:
            raise RuntimeError("auth failed with Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig")
        except RuntimeError:
            log.exception("call failed")
    finally:
        logging.getLogger(logger_name).removeHandler(handler)
    out = stream.getvalue()
    for leaked in ("s3cr3t-client-secret-value", "AbCdEf123", "eyJhbGciOiJIUzI1NiJ9"):
        assert leaked not in out, out
    assert "call failed" in out


def test_cli_logging_setup_masks_secrets_and_keeps_other_handlers(capsys) -> None:
    from shared.logging import configure_json_logging, get_logger

    register_secrets(["another-secret-1234"])
    root = logging.getLogger()
    before = list(root.handlers)
    configure_json_logging("INFO")
    configure_json_logging("INFO")  # twice: still one CLI handler
    try:
        get_logger("cspb.cli.test").warning("password=another-secret-1234 and extra", extra={"api_key": "k-9"})
        err = capsys.readouterr().err
        assert "another-secret-1234" not in err and "k-9" not in err and "***" in err
        assert [h for h in root.handlers if h not in before].__len__() == 1
    finally:
        root.handlers[:] = before
