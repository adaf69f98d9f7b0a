"""Invoice wording in the contract's invoicing language (en, es). Unknown languages fall back to en."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice {contract} {start} to {end}",
        "license": "{name} ({start} to {end})",
        "proration": "{name}: change {change} from {start} to {end}",
        "credit": "{name}: credit for change {change} from {start} to {end}",
        "usage": "Usage {group} ({periods})",
        "minimum": "Minimum commitment top-up ({start} to {end})",
        "onetime": "{name}",
        "suspended": "{line} - suspended",
        "trueup": "Usage true-up {group} ({periods}): Microsoft's billed figures replace the estimate",
        "trueup_revised": "Usage true-up {group} ({periods}): Microsoft revised the usage after the month closed",
        "estimated": "Estimated usage {group} ({periods})",
    },
    "es": {
        "invoice": "Factura {contract} del {start} al {end}",
        "license": "{name} (del {start} al {end})",
        "proration": "{name}: cambio {change} del {start} al {end}",
        "credit": "{name}: abono por el cambio {change} del {start} al {end}",
        "usage": "Consumo {group} ({periods})",
        "minimum": "Ajuste al compromiso mínimo (del {start} al {end})",
        "onetime": "{name}",
        "suspended": "{line} - suspendida",
        "trueup": "Ajuste de consumo {group} ({periods}): las cifras facturadas por Microsoft sustituyen a la estimación",
        "trueup_revised": "Ajuste de consumo {group} ({periods}): Microsoft revisó el consumo después del cierre del mes",
        "estimated": "Consumo estimado {group} ({periods})",
    },
}


def text(language: str, key: str, **values: object) -> str:
    table = TEXTS.get((language or "en").lower()[:2], TEXTS["en"])
    return table[key].format(**values)
