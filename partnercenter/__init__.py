"""Partner Center REST v1 and Microsoft Graph partner billing client (see partnercenter.client)."""

from partnercenter.client import PartnerCenterClient, iter_price_sheet, request_id_for
from partnercenter.models import CartLineItem

__all__ = ["CartLineItem", "PartnerCenterClient", "iter_price_sheet", "request_id_for"]
