"""English and Spanish for the portal, invoices and emails.

Message catalogs are gettext .po files in portal/translations/, read at run time with babel
(no compile step). msgids are stable keys ("nav.invoices"), not English sentences, so a missing
Spanish text is detectable: `missing_keys("es")` lists them and a test keeps it empty.
Numbers, money and dates are formatted by babel for the locale."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent

LANGUAGES: tuple[str, ...] = ("en", "es")
DEFAULT_LANGUAGE = "en"
_DIR = Path(__file__).parent / "translations"


@cache
def catalog(language: str) -> dict[str, str]:
    with (_DIR / f"{language}.po").open("rb") as fh:
        po = read_po(fh, locale=language)
    return {str(m.id): str(m.string) for m in po if m.id and m.string}


def all_keys() -> set[str]:
    return set(catalog(DEFAULT_LANGUAGE))


def missing_keys(language: str) -> set[str]:
    return all_keys() - set(catalog(language))


def pick_language(*candidates: str | None, accept_language: str = "") -> str:
    """First supported candidate, then the browser's Accept-Language, then English."""
    for candidate in candidates:
        if candidate and candidate[:2].lower() in LANGUAGES:
            return candidate[:2].lower()
    for part in accept_language.split(","):
        code = part.split(";")[0].strip()[:2].lower()
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


class Translator:
    """Everything a template needs to speak one language."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self.locale = Locale.parse(self.language)
        self._messages = catalog(self.language)
        self._fallback = catalog(DEFAULT_LANGUAGE)

    def gettext(self, key: str, **params: Any) -> str:
        text = self._messages.get(key) or self._fallback.get(key) or key
        if params:
            shown = {k: self.format_value(v) for k, v in params.items()}
            try:
                return text.format(**shown)
            except (KeyError, IndexError, ValueError):
                return text
        return text

    __call__ = gettext

    def format_value(self, value: Any) -> str:
        if isinstance(value, datetime):
            return self.datetime(value)
        if isinstance(value, date):
            return self.date(value)
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            return self.number(value)
        return str(value)

    def plan(self, term: str, frequency: str) -> str:
        """A term and billing frequency as words: "1 year, billed monthly", never "P1Y P1M"."""
        term_text = self.gettext("term." + term) if ("term." + term) in self._fallback else term
        key = "plan.billed." + frequency
        billed = self.gettext(key) if key in self._fallback else frequency
        # Both catalogs join the two with a comma, so the joiner needs no message of its own.
        return f"{term_text}, {billed}"

    def money(self, amount: Decimal | None, currency: str) -> str:
        if amount is None:
            return ""
        return format_currency(amount, currency, locale=self.locale)

    def number(self, value: Decimal | int | float) -> str:
        return format_decimal(value, locale=self.locale)

    def percent(self, value: Decimal | float | None) -> str:
        if value is None:
            return "—"
        return format_percent(Decimal(value) / 100, locale=self.locale, decimal_quantization=False)

    def date(self, value: date | datetime | None) -> str:
        if value is None:
            return ""
        return format_date(value, format="medium", locale=self.locale)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return format_datetime(value, format="medium", locale=self.locale)
