"""The processor adapter a billing contract names (stripe | authorizenet), built from settings."""

from __future__ import annotations

from payments.base import CardProcessor
from shared.errors import ValidationError


def processor_for(name: str) -> CardProcessor:
    if name == "stripe":
        from payments.stripe_adapter import StripeProcessor

        return StripeProcessor.from_settings()
    if name == "authorizenet":
        from payments.authorizenet import AuthorizeNetProcessor

        return AuthorizeNetProcessor.from_settings()
    raise ValidationError(f"unknown payment processor {name!r} (stripe | authorizenet)")
