"""Deterministic partner data for the Partner Center + Graph sandbox.

`seed_to_dir(state_dir, customers, seed)` writes everything the server serves, in wire format, laid
out so the server can start without reading it all:

    meta.json                      seed parameters, periods, invoice ids
    customers.jsonl                Customer resources, one per line (paged listing)
    customers/{id}.json            that customer's subscriptions, orders, Azure entitlements,
                                   agreements, carts and idempotency records (loaded on first use)
    invoices.json                  Invoice resources
    pricesheets/{market}.csv       new commerce license-based price sheet per market
    exports/usage_billed/{invoice}/part-00000.json.gz
    exports/usage_unbilled/{currency}/{period}/part-00000.json.gz
    exports/recon_billed/{invoice}/part-00000.json.gz

The same seed always gives the same bytes. Dates hang off `as_of`, never the wall clock: the billed
period is the month before it, the unbilled period the month of it. The CLI and the demo pass
today's date (or --as-of); the library default stays fixed so tests that name periods keep them.

meta.json also records what the partner's CRM holds (`crm_accounts`: the customers a Dynamics
account exists for) and every discrepancy seeded on purpose (`planted`), so a recon of the seeded
month can be checked finding by finding:
- billed_by_provider_not_to_customer: a charge for a subscription the partner no longer has
  (transferred away after Microsoft charged it). Suspended subscriptions Microsoft still charges
  are not planted: whether they are a leak is the contract's suspended-billing policy;
- quantity_mismatch: seats changed in Partner Center after the invoice (the next invoice charges them);
- billed_to_customer_no_provider_line: a monthly subscription whose charge is not on this invoice;
- unmapped_tenant: a customer with charges and no CRM account;
- mapped_tenant_no_provider_lines: a CRM customer whose subscriptions all lapsed before the month.
"""

from __future__ import annotations

import json
import random
import shutil
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from sandbox.partnercenter import catalog
from sandbox.partnercenter.usage_file import (
    EXCHANGE_RATES,
    PARTNER_ID,
    PARTNER_MPN_ID,
    UsageCustomer,
    gzip_writer,
    write_usage_file,
)

DEFAULT_AS_OF = date(2026, 11, 1)
AZURE_PLAN_OFFER = catalog.catalog_item_id(*catalog.AZURE_PLAN[:3])

INVOICE_RECON_COLUMNS: tuple[str, ...] = (
    "PartnerId", "CustomerId", "CustomerName", "CustomerDomainName", "CustomerCountry", "InvoiceNumber",
    "MpnId", "ResellerMpnId", "OrderId", "OrderDate", "ProductId", "SkuId", "AvailabilityId", "SkuName",
    "ProductName", "ChargeType", "UnitPrice", "Quantity", "Subtotal", "TaxTotal", "Total", "Currency",
    "PriceAdjustmentDescription", "PublisherName", "PublisherId", "SubscriptionDescription", "SubscriptionId",
    "ChargeStartDate", "ChargeEndDate", "TermAndBillingCycle", "EffectiveUnitPrice", "UnitType",
    "AlternateId", "BillableQuantity", "BillingFrequency", "PricingCurrency", "PCToBCExchangeRate",
    "PCToBCExchangeRateDate", "MeterDescription", "ReservationOrderId", "CreditReasonCode",
    "SubscriptionStartDate", "SubscriptionEndDate", "ReferenceId", "ProductQualifiers", "PromotionId",
    "ProductCategory",
)
PRICE_SHEET_COLUMNS: tuple[str, ...] = catalog.PRICE_SHEET_HEADER
TERM_MONTHS = {"P1M": 1, "P1Y": 12, "P3Y": 36}
CYCLE_MONTHS = {"monthly": 1, "annual": 12, "triennial": 36}

_WORDS_A = ("Northwind", "Contoso", "Fabrikam", "Adatum", "Tailspin", "Litware", "Proseware", "Wingtip",
            "Alpine", "Blue Yonder", "Coho", "Humongous", "Lucerne", "Margie's", "Trey", "Woodgrove",
            "Fourth Coffee", "Wide World", "Relecloud", "Munson's")
_WORDS_B = ("Traders", "Holdings", "Industries", "Logistics", "Dental", "Legal", "Analytics", "Foods",
            "Partners", "Retail", "Clinic", "Labs", "Motors", "Studios", "Energy", "Design")
_FIRST = ("Ana", "Ben", "Chloe", "Dev", "Eva", "Femi", "Grace", "Hiro", "Ines", "Jon", "Kai", "Lena")
_LAST = ("Silva", "Okafor", "Tanaka", "Muller", "Smith", "Kim", "Rossi", "Novak", "Jensen", "Patel")


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    last = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(d.day, last))


def iso(d: date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _month_bounds(d: date) -> tuple[date, date]:
    start = d.replace(day=1)
    return start, add_months(start, 1) - timedelta(days=1)


def _round_down(value: Decimal, currency: str) -> Decimal:
    return value.quantize(catalog.quantum(currency), rounding=ROUND_DOWN)


def json_line(row: dict[str, Any]) -> str:
    """JSON with Decimal written as a bare number (Microsoft's export carries numbers, not strings)."""
    parts = []
    for key, value in row.items():
        rendered = str(value) if isinstance(value, Decimal) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{json.dumps(key)}:{rendered}")
    return "{" + ",".join(parts) + "}\n"


def write_jsonl_gz(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json_line(row).encode() for row in rows]
    with open(path, "wb") as raw, gzip_writer(raw) as gz:
        gz.write(b"".join(lines))
    return len(lines)


def _customer_resource(cid: str, name: str, domain: str, country: str, rng: random.Random) -> dict[str, Any]:
    currency, culture, city = catalog.MARKETS[country]
    first, last = _FIRST[rng.randrange(len(_FIRST))], _LAST[rng.randrange(len(_LAST))]
    return {
        "id": cid,
        "commerceId": _uuid(rng),
        "companyProfile": {
            "tenantId": cid, "domain": domain, "companyName": name,
            "attributes": {"objectType": "CustomerCompanyProfile"},
        },
        "billingProfile": {
            "id": _uuid(rng), "firstName": first, "lastName": last,
            "email": f"{first.lower()}.{last.lower()}@{domain}", "culture": culture, "language": culture[:2],
            "companyName": name,
            "defaultAddress": {
                "country": country, "city": city, "addressLine1": f"{1 + rng.randrange(400)} Main Street",
                "postalCode": f"{10000 + rng.randrange(89999)}", "firstName": first, "lastName": last,
                "phoneNumber": f"+1555{rng.randrange(10**7):07d}",
            },
            "attributes": {"objectType": "CustomerBillingProfile"},
        },
        "relationshipToPartner": "reseller",
        "allowDelegatedAccess": True,
        "attributes": {"objectType": "Customer"},
    }


def new_subscription(*, sub_id: str, offer_id: str, offer_name: str, quantity: int, term: str, billing: str,
                     created: date, status: str, auto_renew: bool, order_id: str, is_trial: bool = False,
                     effective_start: date | None = None, customer_id: str = "") -> dict[str, Any]:
    """A new commerce license Subscription resource
    (https://learn.microsoft.com/partner-center/developer/subscription-resources)."""
    start = effective_start or created
    end = add_months(start, TERM_MONTHS[term]) - timedelta(days=1)
    return {
        "id": sub_id, "offerId": offer_id, "offerName": offer_name, "friendlyName": offer_name,
        "quantity": quantity, "unitType": "Licenses", "hasPurchasableAddons": False,
        "creationDate": iso(created), "effectiveStartDate": iso(start), "commitmentEndDate": iso(end),
        "cancellationAllowedUntilDate": iso(start + timedelta(days=7)),
        "status": status, "autoRenewEnabled": auto_renew, "isTrial": is_trial,
        "billingType": "license", "billingCycle": "none" if is_trial else billing, "termDuration": term,
        "renewalTermDuration": term if auto_renew else "", "refundableQuantity": {"totalQuantity": 0, "details": []},
        "contractType": "subscription", "orderId": order_id, "publisherName": "Microsoft Corporation",
        "isMicrosoftProduct": True, "productType": {"id": "OnlineServicesNCE", "displayName": "OnlineServicesNCE"},
        "links": {"self": {"uri": f"/customers/{customer_id}/subscriptions/{sub_id}", "method": "GET", "headers": []}},
        "attributes": {"etag": "1", "objectType": "Subscription"},
    }


def azure_plan_subscription(sub_id: str, created: date, order_id: str, customer_id: str) -> dict[str, Any]:
    return {
        "id": sub_id, "offerId": AZURE_PLAN_OFFER, "offerName": "Azure plan", "friendlyName": "Azure plan",
        "quantity": 1, "unitType": "Usage-based", "hasPurchasableAddons": False,
        "creationDate": iso(created), "effectiveStartDate": iso(created), "commitmentEndDate": "9999-12-14T00:00:00Z",
        "status": "active", "autoRenewEnabled": False, "isTrial": False, "billingType": "usage",
        "billingCycle": "monthly", "termDuration": "", "contractType": "subscription", "orderId": order_id,
        "publisherName": "Microsoft Corporation", "isMicrosoftProduct": True,
        "productType": {"id": "Azure", "displayName": "Azure"},
        "links": {"self": {"uri": f"/customers/{customer_id}/subscriptions/{sub_id}", "method": "GET", "headers": []}},
        "attributes": {"etag": "1", "objectType": "Subscription"},
    }


def order_for(order_id: str, customer_id: str, sub: dict[str, Any], currency: str, created: str,
              status: str = "completed", transaction: str = "New") -> dict[str, Any]:
    """An Order resource with one line item (https://learn.microsoft.com/partner-center/developer/order-resources)."""
    return {
        "id": order_id, "referenceCustomerId": customer_id, "alternateId": order_id[:12],
        "billingCycle": sub.get("billingCycle", "monthly"), "currencyCode": currency,
        "lineItems": [{
            "lineItemNumber": 0, "offerId": sub["offerId"], "subscriptionId": sub["id"],
            "termDuration": sub.get("termDuration", ""), "transactionType": transaction,
            "friendlyName": sub.get("friendlyName", ""), "quantity": sub.get("quantity", 1),
            "links": {"provisioningStatus": {
                "uri": f"/customers/{customer_id}/orders/{order_id}/provisioningstatus", "method": "GET",
                "headers": []}},
        }],
        "creationDate": created, "status": status, "transactionType": "UserPurchase",
        "links": {"self": {"uri": f"/customers/{customer_id}/orders/{order_id}", "method": "GET", "headers": []}},
        "attributes": {"objectType": "Order"},
    }


# What Microsoft announces for the month after the seed's as-of month, so next month's sheet differs
# from the one in force the way real ones do: (LICENSE_SKUS index, price move in %), one SKU term
# that stops being sold, and one product that starts.
PRICE_MOVES: dict[int, Decimal] = {1: Decimal("5"), 3: Decimal("4"), 7: Decimal("-3")}
ENDING: tuple[int, str] = (9, "P1M")  # Visio Plan 2, month-to-month
STARTING = ("CFQ7TTC0MM8R", "0001", "Microsoft 365 Copilot", "Microsoft 365 Copilot", "Copilot", "30.00")


def _first_of_next(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def price_sheet_rows(market: str, effective: date, as_of: date | None = None) -> list[dict[str, str]]:
    """The sandbox SKUs' rows in the sheet of `effective`'s month. Prices in force in the as-of month
    are the catalog's (what carts, subscriptions and invoices use); that month's sheet also carries
    the rows announcing the next month's changes, which later months' sheets have in force."""
    currency = catalog.MARKETS[market][0]
    month = date(effective.year, effective.month, 1)
    change = _first_of_next(date((as_of or effective).year, (as_of or effective).month, 1))
    announcing = _first_of_next(month) == change
    rows = []

    def row(title: str, pid: str, sku_id: str, sku_title: str, family: str, term: str, billing: str, price: Decimal,
            start: date, end: str = "") -> dict[str, str]:
        q = catalog.quantum(currency)
        return {
            "ProductTitle": title, "ProductId": pid, "SkuId": sku_id, "SkuTitle": sku_title,
            "Publisher": "Microsoft Corporation", "SkuDescription": f"{sku_title} ({family})",
            "UnitOfMeasure": "1 License", "TermDuration": term,
            "BillingPlan": "Annual" if billing == "annual" else "Monthly", "Market": market,
            "Currency": currency, "UnitPrice": str(price), "PricingTierRangeMin": "", "PricingTierRangeMax": "",
            "EffectiveStartDate": f"{start.month}/{start.day}/{start.year} 12:00:00 AM",
            "EffectiveEndDate": end, "Tags": "License",
            "ERP Price": str((price / catalog.PARTNER_DISCOUNT).quantize(q)), "Segment": "Commercial"}

    for i, sku in enumerate(catalog.LICENSE_SKUS):
        for term, billing in catalog.terms_for(sku):
            base = catalog.unit_price(sku[6], term, billing, currency)
            moved = (base * (100 + PRICE_MOVES[i]) / 100).quantize(catalog.quantum(currency), ROUND_HALF_UP) \
                if i in PRICE_MOVES else base
            ending = (i, term) == ENDING
            if month >= change:
                if not ending:
                    rows.append(row(sku[3], sku[0], sku[1], sku[4], sku[5], term, billing, moved,
                                    change if i in PRICE_MOVES else month))
                continue
            last_day = f"{(change - timedelta(days=1)).month}/{(change - timedelta(days=1)).day}/" \
                       f"{(change - timedelta(days=1)).year} 11:59:59 PM"
            rows.append(row(sku[3], sku[0], sku[1], sku[4], sku[5], term, billing, base, month,
                            last_day if ending and announcing else ""))
            if announcing and i in PRICE_MOVES:
                rows.append(row(sku[3], sku[0], sku[1], sku[4], sku[5], term, billing, moved, change))
    if month >= change or announcing:
        pid, sku_id, title, sku_title, family, usd = STARTING
        for term, billing in (("P1M", "monthly"), ("P1Y", "annual")):
            rows.append(row(title, pid, sku_id, sku_title, family, term, billing,
                            catalog.unit_price(usd, term, billing, currency), change))
    return rows


def write_market_sheet(path: Path, market: str, month_start: date, price_rows: int = 0,
                       as_of: date | None = None) -> int:
    """One market's sheet file: the sandbox SKUs (what subscriptions and invoices use), then, with
    `price_rows`, filler rows up to a real sheet's size and shape (catalog.big_price_sheet_rows)."""
    from itertools import chain

    base = price_sheet_rows(market, month_start, as_of)
    rows: Iterable[dict[str, str]] = base
    if price_rows:
        rows = chain(base, catalog.big_price_sheet_rows(market, month_start, price_rows - len(base)))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        return catalog.write_price_sheet(fh, rows)


class _Seeder:
    def __init__(self, state_dir: Path, customers: int, seed: int, as_of: date, usage_rows: int,
                 plant: bool = False, price_rows: int = 0) -> None:
        self.dir = state_dir
        self.price_rows = price_rows
        self.n = customers
        self.rng = random.Random(seed)
        self.seed = seed
        self.as_of = as_of
        self.usage_rows = usage_rows
        # Last calendar month is invoiced, whatever day of this month as_of is.
        self.billed_start, self.billed_end = _month_bounds(as_of.replace(day=1) - timedelta(days=1))
        self.unbilled_start, _ = _month_bounds(as_of)
        self.recon: dict[str, list[dict[str, Any]]] = defaultdict(list)  # currency -> lines
        self.usage_customers: dict[str, list[UsageCustomer]] = defaultdict(list)
        self.invoice_ids = {c: f"G{(seed * 7919 + i * 104729) % 10**9:09d}"
                            for i, c in enumerate(catalog.ALL_PRICING_CURRENCIES)}
        self.counts: dict[str, int] = defaultdict(int)
        self.roles = _plant_roles(customers, seed) if plant else {}
        self.plant_rng = random.Random(f"plant-data:{seed}")  # keeps the main stream unchanged by planting
        self.planted: list[dict[str, Any]] = []
        self.crm_accounts: list[dict[str, str]] = []
        self._sub_lines: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def run(self, progress: bool) -> dict[str, Any]:
        started = time.perf_counter()
        if self.dir.exists():
            for child in ("customers", "exports", "pricesheets"):
                shutil.rmtree(self.dir / child, ignore_errors=True)
        (self.dir / "customers").mkdir(parents=True, exist_ok=True)
        countries = list(catalog.MARKETS)
        weights = [6 if c == "US" else 1 for c in countries]
        customer_iter: Iterable[int] = range(self.n)
        if progress:
            from tqdm import tqdm

            customer_iter = tqdm(customer_iter, desc="customers", unit="cust")
        with open(self.dir / "customers.jsonl", "w", encoding="utf-8") as index:
            for i in customer_iter:
                country = self.rng.choices(countries, weights)[0]
                resource, state = self._customer(i, country)
                index.write(json.dumps(resource, separators=(",", ":")) + "\n")
                (self.dir / "customers" / f"{resource['id']}.json").write_text(
                    json.dumps(state, separators=(",", ":")), encoding="utf-8")
        self._price_sheets()
        invoices = self._invoices_and_usage(progress)
        (self.dir / "invoices.json").write_text(json.dumps(invoices, indent=1), encoding="utf-8")
        meta = {
            "version": 1, "seed": self.seed, "customers": self.n, "as_of": self.as_of.isoformat(),
            "billed_period": self.billed_start.strftime("%Y-%m"), "unbilled_period": self.unbilled_start.strftime("%Y-%m"),
            "partner_id": PARTNER_ID, "invoices": [inv["id"] for inv in invoices], "price_rows": self.price_rows,
        }
        meta["crm_accounts"] = self.crm_accounts
        meta["planted"] = self.planted
        # The month's rates Microsoft converted USD-priced usage with (PCToBCExchangeRate): what the
        # partner's Dynamics holds as exchange rates for that month.
        meta["exchange_rates"] = {"month": self.billed_start.strftime("%Y-%m"), "from": "USD",
                                  "rates": {c: str(r) for c, r in sorted(EXCHANGE_RATES.items()) if c != "USD"}}
        # Written last and atomically: a running sandbox reloads when meta.json changes.
        tmp = self.dir / "meta.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
        tmp.replace(self.dir / "meta.json")
        summary = {"customers": self.n, **dict(sorted(self.counts.items())), "invoices": len(invoices),
                   "planted": len(self.planted),
                   "seconds": round(time.perf_counter() - started, 2), "state_dir": str(self.dir)}
        return summary

    def _customer(self, i: int, country: str) -> tuple[dict[str, Any], dict[str, Any]]:
        rng = self.rng
        cid = _uuid(rng)
        name = f"{_WORDS_A[i % len(_WORDS_A)]} {_WORDS_B[(i // len(_WORDS_A)) % len(_WORDS_B)]} {i:05d}"
        domain = f"{name.split()[0].lower().replace(chr(39), '')}{i:05d}.onmicrosoft.com"
        currency = catalog.MARKETS[country][0]
        resource = _customer_resource(cid, name, domain, country, rng)
        subs: list[dict[str, Any]] = []
        orders: list[dict[str, Any]] = []
        entitlements: dict[str, list[dict[str, Any]]] = {}
        roles = self.roles.get(i, set())
        has_plan = rng.random() < 0.5
        if "unmapped" not in roles:
            self.crm_accounts.append({"name": name, "domain": domain})
        if "quiet" in roles:
            has_plan = False
        if has_plan:
            sub_id, order_id = _uuid(rng), _uuid(rng)
            created = self.as_of - timedelta(days=60 + rng.randrange(700))
            plan = azure_plan_subscription(sub_id, created, order_id, cid)
            subs.append(plan)
            orders.append(order_for(order_id, cid, plan, currency, iso(created)))
            ents: list[dict[str, Any]] = [{"id": _uuid(rng), "friendlyName": f"Azure subscription {k + 1}", "status": "active",
                     "subscriptionId": sub_id, "entitlementType": "asset",
                     "attributes": {"objectType": "AzureEntitlement"}} for k in range(1 + rng.randrange(3))]
            entitlements[sub_id] = ents
            self.usage_customers[currency].append(UsageCustomer(
                customer_id=cid, name=name, domain=domain, country=country, currency=currency,
                subscription_id=sub_id, entitlements=[(e["id"], e["friendlyName"]) for e in ents],
                pec_eligible=rng.random() < 0.8))
            self.counts["azure_plans"] += 1
            self.counts["azure_entitlements"] += len(ents)
        for _ in range(4 + rng.randrange(13)):
            sub, order = self._license_subscription(cid, currency, resource, lapsed="quiet" in roles)
            subs.append(sub)
            orders.append(order)
        self._plant(roles, resource, currency, subs, has_plan)
        self.counts["subscriptions"] += len(subs)
        self.counts["orders"] += len(orders)
        state: dict[str, Any] = {"customerId": cid, "currency": currency, "country": country, "subscriptions": subs,
                 "orders": orders, "entitlements": entitlements, "agreements": [], "carts": [], "requests": {}}
        if rng.random() < 0.6:
            state["agreements"].append({
                "primaryContact": {"firstName": resource["billingProfile"]["firstName"],
                                   "lastName": resource["billingProfile"]["lastName"],
                                   "email": resource["billingProfile"]["email"], "phoneNumber": ""},
                "dateAgreed": iso(self.as_of - timedelta(days=30 + rng.randrange(300))),
                "templateId": MCA_TEMPLATE_ID, "type": "MicrosoftCustomerAgreement",
                "agreementLink": "https://aka.ms/customeragreement",
            })
            self.counts["agreements"] += 1
        return resource, state

    def _plant(self, roles: set[str], customer: dict[str, Any], currency: str, subs: list[dict[str, Any]],
               has_plan: bool) -> None:
        """Seed this customer's deliberate discrepancies and record each in `self.planted`."""
        cid = customer["id"]
        name = customer["companyProfile"]["companyName"]

        def record(kind: str, why: str, sub_id: str = "", **extra: Any) -> None:
            self.planted.append({"kind": kind, "customer_id": cid, "customer": name, "subscription_id": sub_id,
                                 "currency": currency, "why": why, **extra})

        def cost(sub_id: str) -> Decimal:
            return sum((ln["Subtotal"] for ln in self._sub_lines.get(sub_id, [])), Decimal(0))

        def plain_monthly() -> list[dict[str, Any]]:
            # Charged once, whole period, monthly: changing it touches nothing else on the invoice.
            return [s for s in subs if s["status"] == "active" and s["billingCycle"] == "monthly"
                    and [ln["ChargeType"] for ln in self._sub_lines.get(s["id"], [])] in (["cycleCharge"], ["new"],
                                                                                         ["renew"])]

        if "unmapped" in roles:
            if has_plan or any(cost(s["id"]) for s in subs):
                record("unmapped_tenant", "no CRM account for this customer")
            return
        if "quiet" in roles:
            record("mapped_tenant_no_provider_lines", "every subscription lapsed before the month")
            return
        candidates = plain_monthly()
        if "seats" in roles and candidates:
            sub = candidates.pop(0)
            before = int(sub["quantity"])
            sub["quantity"] = before + 2  # after the invoice: Microsoft charges the 2 seats next month
            record("quantity_mismatch", "2 seats added in Partner Center after the invoice", sub["id"],
                   provider_quantity=before, crm_quantity=before + 2)
        if "cost_missing" in roles and candidates:
            sub = candidates.pop(0)
            for row in self._sub_lines.pop(sub["id"]):
                self.recon[currency].remove(row)
                self.counts["recon_lines"] -= 1
            record("billed_to_customer_no_provider_line", "Microsoft's charge is not on this invoice", sub["id"])
        if "leak" in roles:
            gone: dict[str, Any] = {"id": _uuid(self.plant_rng), "orderId": _uuid(self.plant_rng), "quantity": 3,
                    "creationDate": iso(self.billed_start), "effectiveStartDate": iso(self.billed_start),
                    "commitmentEndDate": iso(add_months(self.billed_start, 12) - timedelta(days=1)), "status": "active"}
            sku = catalog.LICENSE_SKUS[self.plant_rng.randrange(len(catalog.LICENSE_SKUS))]
            self._recon_lines(customer, gone, sku, "P1Y", "monthly", currency, self.billed_start - timedelta(days=400),
                              add_months(self.billed_start, -1), plant=True)
            record("billed_by_provider_not_to_customer", "transferred to another partner after Microsoft charged it",
                   gone["id"], amount=str(cost(gone["id"])))

    def _license_subscription(self, cid: str, currency: str, customer: dict[str, Any],
                              lapsed: bool = False) -> tuple[dict, dict]:
        rng = self.rng
        sku = catalog.LICENSE_SKUS[rng.randrange(len(catalog.LICENSE_SKUS))]
        term, billing = rng.choice(catalog.terms_for(sku))
        sub_id, order_id = _uuid(rng), _uuid(rng)
        roll = rng.random()
        if lapsed:
            roll = 0.05  # expired before the billed month: nothing to charge
        quantity = 1 + rng.randrange(60)
        is_trial = roll < 0.03
        months = TERM_MONTHS[term]
        if is_trial:
            created = self.as_of - timedelta(days=1 + rng.randrange(20))
            term, billing, status, auto_renew, effective = "P1M", "monthly", "active", False, created
            quantity = 25
        elif roll < 0.08:  # expired: the last term ended before as_of and did not renew
            created = add_months(self.as_of, -months - 1) - timedelta(days=rng.randrange(25))
            status, auto_renew, effective = "expired", False, created
        else:
            # Bias towards purchases in the billed month, so recon has new/cancel lines to show.
            if rng.random() < 0.15:
                created = self.billed_start + timedelta(days=rng.randrange((self.billed_end - self.billed_start).days))
            else:
                created = self.as_of - timedelta(days=40 + rng.randrange(1000))
            effective = created
            while add_months(effective, months) <= self.as_of - timedelta(days=1):
                effective = add_months(effective, months)  # renewed at each anniversary
            status = "suspended" if roll < 0.13 else "active"
            auto_renew = rng.random() < 0.85
        offer = catalog.catalog_item_id(*sku[:3])
        sub = new_subscription(sub_id=sub_id, offer_id=offer, offer_name=sku[4], quantity=quantity, term=term,
                               billing=billing, created=created, status=status, auto_renew=auto_renew,
                               order_id=order_id, is_trial=is_trial, effective_start=effective, customer_id=cid)
        order = order_for(order_id, cid, sub, currency, iso(created))
        if not is_trial:
            # The term in force during the billed month (a renewal after it is next month's charge).
            billed_term = created
            while status != "expired" and add_months(billed_term, months) <= self.billed_end:
                billed_term = add_months(billed_term, months)
            self._recon_lines(customer, sub, sku, term, billing, currency, created, billed_term)
        return sub, order

    def _recon_lines(self, customer: dict, sub: dict, sku: tuple, term: str, billing: str, currency: str,
                     created: date, effective: date, plant: bool = False) -> None:
        """Invoice recon lines for the billed month. Subtotal follows Microsoft's seat-based formula:
        ROUNDDOWN(ROUNDDOWN(EffectiveUnitPrice x PCToBCExchangeRate, 2) x BillableQuantity, 2)
        (0 places for JPY/KRW); license prices are local, so PCToBCExchangeRate is 1."""
        rng = self.rng
        price = catalog.unit_price(sku[6], term, billing, currency)
        cycle = CYCLE_MONTHS[billing]
        q = int(sub["quantity"])

        def line(charge: str, start: date, qty: Decimal, billable: Decimal, *, credit: str = "",
                 eup: Decimal | None = None, end: date | None = None) -> None:
            eff = price if eup is None else eup
            subtotal = _round_down(_round_down(eff, currency) * billable, currency)
            end = end or add_months(start, cycle) - timedelta(days=1)
            row = {
                "PartnerId": PARTNER_ID, "CustomerId": customer["id"],
                "CustomerName": customer["companyProfile"]["companyName"],
                "CustomerDomainName": customer["companyProfile"]["domain"],
                "CustomerCountry": customer["billingProfile"]["defaultAddress"]["country"],
                "InvoiceNumber": self.invoice_ids[currency], "MpnId": PARTNER_MPN_ID, "ResellerMpnId": "",
                "OrderId": sub["orderId"], "OrderDate": sub["creationDate"], "ProductId": sku[0], "SkuId": sku[1],
                "AvailabilityId": sku[2], "SkuName": sku[4], "ProductName": sku[3], "ChargeType": charge,
                "UnitPrice": price, "Quantity": qty, "Subtotal": subtotal, "TaxTotal": Decimal(0),
                "Total": subtotal, "Currency": currency, "PriceAdjustmentDescription": "",
                "PublisherName": "Microsoft Corporation", "PublisherId": "", "SubscriptionDescription": sku[4],
                "SubscriptionId": sub["id"], "ChargeStartDate": iso(start), "ChargeEndDate": iso(end),
                "TermAndBillingCycle": f"{'1 Month' if term == 'P1M' else '1 Year' if term == 'P1Y' else '3 Years'}"
                                       f" Subscription{' - Monthly' if billing == 'monthly' else ''}",
                "EffectiveUnitPrice": eff, "UnitType": "1 License", "AlternateId": sub["orderId"][:12],
                "BillableQuantity": billable, "BillingFrequency": "Monthly" if billing == "monthly" else "Annual",
                "PricingCurrency": currency, "PCToBCExchangeRate": Decimal(1),
                "PCToBCExchangeRateDate": iso(self.billed_start), "MeterDescription": "", "ReservationOrderId": "",
                "CreditReasonCode": credit, "SubscriptionStartDate": sub["effectiveStartDate"],
                "SubscriptionEndDate": sub["commitmentEndDate"], "ReferenceId": "", "ProductQualifiers": "[]",
                "PromotionId": "", "ProductCategory": sku[5],
            }
            self.recon[currency].append(row)
            self._sub_lines[sub["id"]].append(row)
            self.counts["recon_lines"] += 1

        in_period = self.billed_start <= created <= self.billed_end
        renewed_in_period = effective != created and self.billed_start <= effective <= self.billed_end
        if in_period:
            period_start = created
            line("new", created, Decimal(q), Decimal(q))
            if rng.random() < 0.2:
                # Cancelled within the 7-day window: a full refund, and the subscription is gone.
                line("cancelImmediate", created, Decimal(-q), Decimal(-q))
                sub.update(status="deleted", autoRenewEnabled=False, renewalTermDuration="")
                return
        elif renewed_in_period:
            period_start = effective
            line("renew", effective, Decimal(q), Decimal(q))
        elif billing == "monthly" and sub["status"] in ("active", "suspended"):
            cycle_start = effective
            while add_months(cycle_start, 1) <= self.billed_start:
                cycle_start = add_months(cycle_start, 1)
            period_start = cycle_start
            line("cycleCharge", cycle_start, Decimal(q), Decimal(q))
        else:
            return
        if sub["status"] != "active" or plant:
            return
        roll = rng.random()
        days_in_cycle = Decimal((add_months(self.billed_start, cycle) - self.billed_start).days)
        # A mid-period change is co-terminous with the period just charged (Microsoft's shape): the
        # window runs from the change date to that period's end, and BillableQuantity is the seats
        # times the share of the period left. The change falls in the billed month.
        period_end = add_months(period_start, cycle) - timedelta(days=1)
        period_days = (period_end - period_start).days + 1
        first, last = max(period_start + timedelta(days=1), self.billed_start), min(period_end, self.billed_end)

        def change_day(drawn: int) -> date | None:
            return None if first > last else max(first, min(last, self.billed_end - timedelta(days=drawn - 1)))

        def prorated(seats: int, day: date) -> Decimal:
            return (Decimal(seats) * ((period_end - day).days + 1) / period_days).quantize(Decimal("0.000001"))

        if roll < 0.12:  # seats added mid-cycle, charged pro rata
            extra = 1 + rng.randrange(5)
            day = change_day(1 + rng.randrange(int(days_in_cycle) - 1))
            if day is not None:
                line("addQuantity", day, Decimal(extra), prorated(extra, day), end=period_end)
                sub["quantity"] = q + extra
        elif roll < 0.18 and q > 1:  # seats removed within the window, refunded pro rata
            fewer = 1 + rng.randrange(min(3, q - 1))
            day = change_day(1 + rng.randrange(int(days_in_cycle) - 1))
            if day is not None:
                line("removeQuantity", day, Decimal(-fewer), -prorated(fewer, day), end=period_end)
                sub["quantity"] = q - fewer
        elif roll < 0.21:  # a goodwill credit from Microsoft
            line("customerCredit", self.billed_start, Decimal(-1), Decimal(-1), credit="Customer satisfaction",
                 eup=(price / 10).quantize(catalog.quantum(currency)))

    def _price_sheets(self) -> None:
        out = self.dir / "pricesheets"
        out.mkdir(parents=True, exist_ok=True)
        for market in catalog.MARKETS:
            self.counts["price_sheet_rows"] += write_market_sheet(out / f"{market}.csv", market, self.unbilled_start,
                                                                  self.price_rows, self.as_of)

    def _usage_jobs(self) -> list[tuple[str, dict[str, Any]]]:
        """(currency, write_usage_file kwargs) per blob. Rows are shared out by Azure-plan customers per
        currency; a currency's billed usage is split into parts of at most ROWS_PER_BLOB rows, as
        Microsoft splits a large partition into several files."""
        exports = self.dir / "exports"
        azure_total = sum(len(v) for v in self.usage_customers.values())
        with_usage = [c for c in catalog.ALL_PRICING_CURRENCIES if self.usage_customers.get(c)]
        jobs: list[tuple[str, dict[str, Any]]] = []
        allocated = 0
        for ci, currency in enumerate(catalog.ALL_PRICING_CURRENCIES):
            custs = self.usage_customers.get(currency, [])
            if not custs:
                continue
            rows = self.usage_rows - allocated if currency == with_usage[-1] else \
                self.usage_rows * len(custs) // azure_total
            allocated += rows
            parts = max(1, -(-rows // ROWS_PER_BLOB))
            for part in range(parts):
                part_rows = rows // parts + (1 if part < rows % parts else 0)
                if part_rows:
                    jobs.append((currency, dict(
                        path=exports / "usage_billed" / self.invoice_ids[currency] / f"part-{part:05d}.json.gz",
                        rows=part_rows, seed=self.seed * 1000 + ci * 10 + part, customers=custs,
                        period=self.billed_start.strftime("%Y-%m"), invoice_number=self.invoice_ids[currency])))
            unbilled = max(1, rows // 10) if rows else 0
            if unbilled:
                jobs.append((currency, dict(
                    path=exports / "usage_unbilled" / currency / self.unbilled_start.strftime("%Y-%m")
                    / "part-00000.json.gz", rows=unbilled, seed=self.seed * 1000 + 500 + ci, customers=custs,
                    period=self.unbilled_start.strftime("%Y-%m"))))
        return jobs

    def _invoices_and_usage(self, progress: bool) -> list[dict[str, Any]]:
        jobs = self._usage_jobs()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=sum(kw["rows"] for _c, kw in jobs), desc="usage rows", unit="row", unit_scale=True)
        billed_totals: dict[str, Decimal] = defaultdict(Decimal)
        results = _run_usage_jobs([kw for _c, kw in jobs], bar)
        for (currency, kw), result in zip(jobs, results, strict=True):
            unbilled = not kw.get("invoice_number")
            self.counts["usage_rows_unbilled" if unbilled else "usage_rows_billed"] += kw["rows"]
            if not unbilled:
                billed_totals[currency] += result["billing_totals"].get(currency, Decimal(0))
        if bar is not None:
            bar.close()
        invoices: list[dict[str, Any]] = []
        for currency in catalog.ALL_PRICING_CURRENCIES:
            invoice_id = self.invoice_ids[currency]
            lines = self.recon.get(currency, [])
            if not lines and not self.usage_customers.get(currency):
                continue
            write_jsonl_gz(self.dir / "exports" / "recon_billed" / invoice_id / "part-00000.json.gz", lines)
            license_total = sum((ln["Total"] for ln in lines), Decimal(0))
            total = license_total + billed_totals[currency].quantize(catalog.quantum(currency))
            invoices.append(invoice_resource(invoice_id, currency, self.billed_start, self.billed_end,
                                             self.as_of, total))
        return invoices


PLANT_ROLES = ("unmapped", "quiet", "leak", "seats", "cost_missing")


def _plant_roles(customers: int, seed: int) -> dict[int, set[str]]:
    """Which customers carry which planted discrepancy: about one in twenty each (at least one),
    distinct customers while there are enough of them. Its own RNG, so the rest of the data does
    not shift when the plan changes."""
    rng = random.Random(f"plant:{seed}")
    per_role = max(1, customers // 20)
    picks = rng.sample(range(customers), min(customers, per_role * len(PLANT_ROLES)))
    roles: dict[int, set[str]] = defaultdict(set)
    for k, index in enumerate(picks):
        roles[index].add(PLANT_ROLES[k % len(PLANT_ROLES)])
    return dict(roles)


ROWS_PER_BLOB = 400_000
PARALLEL_FROM_ROWS = 400_000


def _write_usage_job(kwargs: dict[str, Any]) -> dict[str, Any]:
    return write_usage_file(**kwargs)


def _run_usage_jobs(jobs: list[dict[str, Any]], bar: Any) -> list[dict[str, Any]]:
    """Big seeds use both cores (each file is independent and seeded, so output is the same either
    way); small ones stay in-process, which is also what tests running servers in threads want."""
    if sum(j["rows"] for j in jobs) < PARALLEL_FROM_ROWS:
        results = []
        for job in jobs:
            results.append(_write_usage_job(job))
            if bar is not None:
                bar.update(job["rows"])
        return results
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    order = sorted(range(len(jobs)), key=lambda i: -jobs[i]["rows"])  # biggest first balances the workers
    out: list[dict[str, Any]] = [{} for _ in jobs]
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("fork")) as pool:
        futures = {pool.submit(_write_usage_job, jobs[i]): i for i in order}
        from concurrent.futures import as_completed

        for future in as_completed(futures):
            i = futures[future]
            out[i] = future.result()
            if bar is not None:
                bar.update(jobs[i]["rows"])
    return out


MCA_TEMPLATE_ID = "117a77b0-9360-443b-8795-c6dedc750cf9"


def invoice_resource(invoice_id: str, currency: str, start: date, end: date, issued: date,
                     total: Decimal) -> dict[str, Any]:
    """An Invoice resource (https://learn.microsoft.com/partner-center/developer/invoice-resources).
    totalCharges = license recon lines + billed Azure usage (BillingPreTaxTotal) for the currency."""
    return {
        "id": invoice_id, "invoiceDate": iso(issued + timedelta(days=7)), "billingPeriodStartDate": iso(start),
        "billingPeriodEndDate": iso(end), "totalCharges": str(total), "paidAmount": "0",
        "currencyCode": currency, "currencySymbol": currency, "documentType": "invoice", "invoiceType": "Recurring",
        "pdfDownloadLink": f"/invoices/{invoice_id}/documents/statement",
        "invoiceDetails": [
            {"invoiceLineItemType": "billing_line_items", "billingProvider": "one_time",
             "links": {"self": {"uri": f"/invoices/{invoice_id}/lineitems/onetime/billinglineitems",
                                "method": "GET", "headers": []}}},
            {"invoiceLineItemType": "usage_line_items", "billingProvider": "one_time",
             "links": {"self": {"uri": f"/invoices/{invoice_id}/lineitems/onetime/usagelineitems",
                                "method": "GET", "headers": []}}},
        ],
        "links": {"self": {"uri": f"/invoices/{invoice_id}", "method": "GET", "headers": []}},
        "attributes": {"objectType": "Invoice"},
    }


def seed_to_dir(state_dir: Path | str, customers: int, seed: int, progress: bool = False, *,
                usage_rows: int | None = None, as_of: date = DEFAULT_AS_OF, plant: bool = False,
                price_rows: int = 0) -> dict[str, Any]:
    """Write a deterministic partner to `state_dir`; returns counts and the time taken.

    `usage_rows` defaults to 1,000 billed daily-rated usage rows per customer (2,000 customers ->
    2,000,000 rows), spread over the customers that have an Azure plan; unbilled usage is a tenth.
    `plant` seeds the deliberate discrepancies and records them in meta.json (the CLI and the demo
    do; tests of other areas keep the unplanted data).
    `price_rows` (e.g. 50,000) makes every market's price sheet that many rows, shaped like Microsoft's
    (tiers, rows announcing next month's prices, empty optional fields); 0 keeps the sandbox SKUs only.
    """
    rows = customers * 1000 if usage_rows is None else usage_rows
    return _Seeder(Path(state_dir), customers, seed, as_of, rows, plant, price_rows).run(progress)
