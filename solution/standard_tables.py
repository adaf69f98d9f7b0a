"""Platform columns of the standard Dynamics 365 Sales tables CSPBridge uses.

These tables ship with Dataverse, not with our solution; the solution only adds cspb_ columns
and alternate keys to them (see solution/spec.py EXTENSIONS). solution.schema merges the two.
Only the columns the design reads or writes are listed.
Reference: https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/
"""

from __future__ import annotations

# (logical name, type, lookup target or None, options or None)
ColumnDef = tuple[str, str, str | None, dict[int, str] | None]

ACTIVE_STATE = {0: "Active", 1: "Inactive"}
ACTIVE_STATUS = {1: "Active", 2: "Inactive"}


def _c(name: str, type_: str, target: str | None = None, options: dict[int, str] | None = None) -> ColumnDef:
    return (name, type_, target, options)


def _common(state: dict[int, str] = ACTIVE_STATE, status: dict[int, str] = ACTIVE_STATUS) -> list[ColumnDef]:
    return [
        _c("statecode", "state", options=state),
        _c("statuscode", "status", options=status),
        _c("createdon", "datetime"),
        _c("modifiedon", "datetime"),
    ]


# logical name -> (entity set, primary id, primary name, columns, alternate keys the platform has)
STANDARD: dict[str, tuple[str, str, str, list[ColumnDef], list[tuple[str, tuple[str, ...]]]]] = {
    "account": ("accounts", "accountid", "name", [
        _c("accountid", "uniqueidentifier"), _c("name", "string"), _c("accountnumber", "string"),
        _c("emailaddress1", "string"), _c("telephone1", "string"), _c("websiteurl", "string"),
        _c("address1_country", "string"), _c("address1_line1", "string"), _c("address1_line2", "string"),
        _c("address1_city", "string"), _c("address1_stateorprovince", "string"),
        _c("address1_postalcode", "string"), _c("parentaccountid", "lookup", "account"),
        _c("primarycontactid", "lookup", "contact"), _c("transactioncurrencyid", "lookup", "transactioncurrency"),
        *_common(),
    ], []),
    "contact": ("contacts", "contactid", "fullname", [
        _c("contactid", "uniqueidentifier"), _c("firstname", "string"), _c("lastname", "string"),
        _c("fullname", "string"), _c("emailaddress1", "string"), _c("telephone1", "string"),
        # parentcustomerid is a Customer lookup (account or contact); CSPBridge only sets accounts.
        _c("parentcustomerid", "lookup", "account"),
        *_common(),
    ], []),
    "transactioncurrency": ("transactioncurrencies", "transactioncurrencyid", "currencyname", [
        _c("transactioncurrencyid", "uniqueidentifier"), _c("isocurrencycode", "string"),
        _c("currencyname", "string"), _c("currencysymbol", "string"), _c("exchangerate", "decimal"),
        _c("currencyprecision", "int"), *_common(),
    ], []),
    "uomschedule": ("uomschedules", "uomscheduleid", "name", [
        _c("uomscheduleid", "uniqueidentifier"), _c("name", "string"), _c("baseuomname", "string"),
        _c("description", "memo"), *_common(),
    ], []),
    "uom": ("uoms", "uomid", "name", [
        _c("uomid", "uniqueidentifier"), _c("name", "string"), _c("uomscheduleid", "lookup", "uomschedule"),
        _c("baseuom", "lookup", "uom"), _c("quantity", "decimal"), _c("isschedulebaseuom", "bool"),
        _c("createdon", "datetime"), _c("modifiedon", "datetime"),
    ], []),
    "product": ("products", "productid", "name", [
        _c("productid", "uniqueidentifier"), _c("name", "string"), _c("productnumber", "string"),
        _c("description", "memo"), _c("defaultuomscheduleid", "lookup", "uomschedule"),
        _c("defaultuomid", "lookup", "uom"), _c("pricelevelid", "lookup", "pricelevel"),
        _c("transactioncurrencyid", "lookup", "transactioncurrency"), _c("quantitydecimal", "int"),
        _c("productstructure", "picklist", options={1: "Product", 2: "Product Family", 3: "Product Bundle"}),
        _c("producttypecode", "picklist", options={1: "Sales Inventory", 2: "Miscellaneous Charges",
                                                   3: "Services", 4: "Flat Fees"}),
        _c("price", "money"), _c("standardcost", "money"), _c("currentcost", "money"),
        *_common({0: "Active", 1: "Retired", 2: "Draft", 3: "Under Revision"},
                 {1: "Active", 2: "Retired", 0: "Draft", 3: "Under Revision"}),
    ], []),
    "pricelevel": ("pricelevels", "pricelevelid", "name", [
        _c("pricelevelid", "uniqueidentifier"), _c("name", "string"), _c("description", "memo"),
        _c("transactioncurrencyid", "lookup", "transactioncurrency"), _c("begindate", "datetime"),
        _c("enddate", "datetime"), *_common(),
    ], []),
    "productpricelevel": ("productpricelevels", "productpricelevelid", "productnumber", [
        _c("productpricelevelid", "uniqueidentifier"), _c("pricelevelid", "lookup", "pricelevel"),
        _c("productid", "lookup", "product"), _c("uomid", "lookup", "uom"),
        _c("uomscheduleid", "lookup", "uomschedule"), _c("productnumber", "string"),
        _c("amount", "money"), _c("percentage", "decimal"),
        _c("pricingmethodcode", "picklist", options={1: "Currency Amount", 2: "Percent of List",
                                                     3: "Percent Markup - Current Cost",
                                                     4: "Percent Margin - Current Cost",
                                                     5: "Percent Markup - Standard Cost",
                                                     6: "Percent Margin - Standard Cost"}),
        _c("transactioncurrencyid", "lookup", "transactioncurrency"),
        _c("createdon", "datetime"), _c("modifiedon", "datetime"),
    ], []),
    "invoice": ("invoices", "invoiceid", "name", [
        _c("invoiceid", "uniqueidentifier"), _c("name", "string"), _c("invoicenumber", "string"),
        _c("description", "memo"), _c("customerid", "lookup", "account"),
        _c("pricelevelid", "lookup", "pricelevel"), _c("transactioncurrencyid", "lookup", "transactioncurrency"),
        _c("totalamount", "money"), _c("totallineitemamount", "money"), _c("totaltax", "money"),
        _c("totaldiscountamount", "money"), _c("discountamount", "money"), _c("discountpercentage", "decimal"),
        _c("duedate", "date"), _c("datedelivered", "date"), _c("ispricelocked", "bool"),
        *_common({0: "Active", 1: "Closed", 2: "Paid", 3: "Canceled"},
                 {1: "New", 2: "Partially Shipped", 4: "Billed", 5: "Booked", 6: "Installed",
                  100001: "Complete", 100002: "Partial", 100003: "Canceled"}),
    ], []),
    # Activities: a task regarding an account (the dunning "flag for suspension").
    "task": ("tasks", "activityid", "subject", [
        _c("activityid", "uniqueidentifier"), _c("subject", "string"), _c("description", "memo"),
        _c("scheduledend", "datetime"), _c("prioritycode", "picklist", options={0: "Low", 1: "Normal", 2: "High"}),
        _c("regardingobjectid", "lookup", "account"),
        *_common({0: "Open", 1: "Completed", 2: "Canceled"}, {2: "Not Started", 5: "Completed", 6: "Canceled"}),
    ], []),
    "invoicedetail": ("invoicedetails", "invoicedetailid", "invoicedetailname", [
        _c("invoicedetailid", "uniqueidentifier"), _c("invoicedetailname", "string"),
        _c("invoiceid", "lookup", "invoice"), _c("productid", "lookup", "product"), _c("uomid", "lookup", "uom"),
        _c("productdescription", "string"), _c("description", "memo"), _c("isproductoverridden", "bool"),
        _c("ispriceoverridden", "bool"), _c("quantity", "decimal"), _c("priceperunit", "money"),
        _c("baseamount", "money"), _c("manualdiscountamount", "money"), _c("tax", "money"),
        _c("extendedamount", "money"), _c("lineitemnumber", "int"),
        _c("transactioncurrencyid", "lookup", "transactioncurrency"),
        _c("createdon", "datetime"), _c("modifiedon", "datetime"),
    ], []),
}
