

def test_invoice_numbers_are_short_stable_and_distinct_per_kind():
    from billing.models import INVOICE_NUMBER_MAX, invoice_number

    regular = invoice_number("BC-1001|2026-11-01|cycle")
    assert regular == "BC-1001-261101"
    assert invoice_number("BC-1001|2026-11-01|changelog") == "BC-1001-261101C"
    long_key = "A-VERY-LONG-CONTRACT-NUMBER-2026|2026-11-01|cycle"
    assert invoice_number(long_key) == invoice_number(long_key)
    assert len(invoice_number(long_key)) <= INVOICE_NUMBER_MAX
