"""The portal's Dataverse reads as they were before issue 15: one read per object, each waiting for
the one before (the account, the contracts, then the contracts' subscriptions; the provider
accounts, then their agreements; the invoice, then its lines; the price list items, then their
products, then their units). `bench portal` times the same pages over this and over the batched
repository; both map rows to the same portal models, so the pages render the same."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from dataverse.stores import invoices as invoice_store
from dataverse.stores import portal_pages as pp
from dataverse.tables import EntitySet
from portal.dataverse_repo import DataverseRepository, is_guid
from portal.models import (
    Account,
    Agreement,
    ChangeRequest,
    HomePage,
    Invoice,
    Offer,
    ShopPage,
    Subscription,
)


def _money(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _or_filter(column: str, ids: Iterable[str]) -> str | None:
    wanted = list(ids)
    return "(" + " or ".join(f"{column} eq {i}" for i in wanted) + ")" if wanted else None


class OneReadPerObjectRepository(DataverseRepository):
    def list_subscriptions(self, account_id: str) -> list[Subscription]:
        where = _or_filter(pp.SUBSCRIPTION_CONTRACT, (c.id for c in self.list_contracts(account_id)))
        if where is None:
            return []
        rows = self.dv.list(EntitySet.SUBSCRIPTIONS, select=pp.SUBSCRIPTION_COLUMNS, filter=where)
        return self._subscriptions(rows, account_id)

    def get_agreement(self, account_id: str) -> Agreement | None:
        if not is_guid(account_id):
            return None
        accounts = list(self.dv.list(EntitySet.PROVIDER_ACCOUNTS, select=pp.PROVIDER_ACCOUNT_COLUMNS,
                                     filter=f"{pp.ACCOUNT_LOOKUP} eq {account_id}"))
        where = _or_filter(pp.AGREEMENT_PROVIDER_ACCOUNT, (a[pp.PROVIDER_ACCOUNT_COLUMNS[0]] for a in accounts))
        rows = list(self.dv.list(EntitySet.AGREEMENTS, filter=where, select=pp.AGREEMENT_COLUMNS)) if where else []
        return self._agreement(account_id, pp.AgreementRows(accounts, rows))

    def get_invoice(self, account_id: str, invoice_id: str) -> Invoice | None:
        # The invoice, then its lines.
        return invoice_store.get_for_customer(self.dv, account_id, invoice_id) if is_guid(invoice_id) else None

    def list_offers(self, account_id: str, contract_id: str) -> list[Offer]:
        contract = self.get_contract(account_id, contract_id)
        if contract is None or not is_guid(contract.pricelevel_id):
            return []
        prices = list(self.dv.list(EntitySet.PRODUCT_PRICE_LEVELS, select=pp.PRICE_COLUMNS,
                                   filter=f"_pricelevelid_value eq {contract.pricelevel_id}"))
        product_filter = _or_filter("productid", {p["_productid_value"] for p in prices if p.get("_productid_value")})
        if product_filter is None:
            return []
        products: dict[str, Any] = {p["productid"]: p for p in self.dv.list(
            EntitySet.PRODUCTS, select=pp.OFFER_PRODUCT_COLUMNS, filter=f"{pp.PORTAL_OFFERS} and {product_filter}")}
        unit_filter = _or_filter("uomid", {p["_uomid_value"] for p in prices if p.get("_uomid_value")})
        units = {u["uomid"]: u.get("name") or "" for u in self.dv.list(EntitySet.UOMS, select=["uomid", "name"],
                                                                       filter=unit_filter)} if unit_filter else {}
        offers = [Offer(product_id=p["_productid_value"], name=products[p["_productid_value"]].get("name") or "",
                        sku=products[p["_productid_value"]].get("productnumber") or "",
                        unit_id=p.get("_uomid_value") or "", unit_name=units.get(p.get("_uomid_value"), ""),
                        price=_money(p.get("amount")), currency=contract.currency)
                  for p in prices if p.get("_productid_value") in products]
        return sorted(offers, key=lambda o: (o.name, o.unit_name))

    # -- the pages, composed of the reads above as the app used to call them ----------------------
    def home_page(self, account_id: str, *, subscriptions: bool, invoices: bool) -> HomePage:
        return HomePage(self.get_account(account_id), self.list_subscriptions(account_id) if subscriptions else [],
                        self.list_invoices(account_id) if invoices else [], self.get_agreement(account_id))

    def subscription_page(self, account_id: str,
                          subscription_id: str) -> tuple[Subscription, list[ChangeRequest]] | None:
        sub = self.get_subscription(account_id, subscription_id)
        return (sub, self.list_changes(account_id, sub.id)) if sub else None

    def invoice_page(self, account_id: str, invoice_id: str) -> tuple[Invoice, Account | None] | None:
        invoice = self.get_invoice(account_id, invoice_id)
        return (invoice, self.get_account(invoice.account_id)) if invoice else None

    def shop_page(self, account_id: str, contract_id: str | None) -> ShopPage:
        contracts = self.list_contracts(account_id)
        chosen = contract_id or (contracts[0].id if contracts else "")
        contract = self.get_contract(account_id, chosen) if chosen else None
        offers = self.list_offers(account_id, contract.id) if contract else []
        return ShopPage(contracts, contract, offers, self.get_agreement(account_id))
