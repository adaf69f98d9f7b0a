"""Main form and system views (public, Quick Find, Lookup) for each custom table, in the
SolutionPackager layout: Entities/<SchemaName>/FormXml/main/{formid}.xml and
Entities/<SchemaName>/SavedQueries/{savedqueryid}.xml
(https://learn.microsoft.com/power-apps/developer/data-platform/customize-entity-forms,
https://learn.microsoft.com/power-apps/developer/data-platform/customize-entity-views:
querytype 0 = public view, 4 = Quick Find, 64 = Lookup). Sales reps and billing admins work in
these forms, so every column of the table is on its main form.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from solution.entity_xml import VERSION, labels, sub, to_bytes, with_xsi
from solution.ids import stable_id
from solution.spec import VIEWS, Col, TableSpec, ViewSpec

# Built-in form control class ids by column type.
CONTROL_CLASS = {
    "string": "{4273EDBD-AC1D-40d3-9FB2-095C621B552D}",
    "memo": "{E0DECE4B-6FC8-4a8f-A065-082708572369}",
    "int": "{C6D124CA-7EDA-4a60-AEA9-7FB8D318B68F}",
    "decimal": "{C3EFE0C3-0EC6-42be-8349-CBD9079DFD8E}",
    "money": "{533B9E00-756B-4312-95A0-DC888637AC78}",
    "picklist": "{3EF39988-22BB-4f0b-BBBE-64B5A3748AEE}",
    "bool": "{B0C6723A-8503-4fd7-BB28-C8A06AC933C2}",
    "datetime": "{5B773807-9FB2-42db-97C3-7A91EFF8ADFF}",
    "date": "{5B773807-9FB2-42db-97C3-7A91EFF8ADFF}",
    "lookup": "{270BD3DB-D9AF-4782-9025-509E298DEC0A}",
}
VIEW_COLUMNS = 4  # besides the primary name and createdon
SUBGRID_CLASS = "{E7A81278-8635-4d9e-8D4D-59480B391C5B}"
WEB_RESOURCE_CLASS = "{9FDF5F91-88B1-47F4-AD53-C11EFC01A01D}"

# Related records shown on a table's main form, as subgrids: (control id, child table, its lookup column,
# English and Spanish section names). The relationship is the one the child's lookup defines.
SUBGRIDS: dict[str, tuple[tuple[str, str, str, tuple[str, str]], ...]] = {
    "cspb_subscription": (
        ("changelogs", "cspb_licensechangelog", "cspb_subscription",
         ("License changes and provisioning", "Cambios de licencia y aprovisionamiento")),
        ("invoicelines", "invoicedetail", "cspb_subscription", ("Invoice lines", "Líneas de factura")),
    ),
    "cspb_billingcontract": (
        ("subscriptions", "cspb_subscription", "cspb_billingcontract", ("Subscriptions", "Suscripciones")),
        ("invoices", "invoice", "cspb_billingcontract", ("Invoices", "Facturas")),
    ),
    "cspb_provideraccount": (
        ("subscriptions", "cspb_subscription", "cspb_provideraccount", ("Subscriptions", "Suscripciones")),
        ("agreements", "cspb_agreement", "cspb_provideraccount", ("Customer Agreements", "Contratos de cliente")),
    ),
    "account": (
        ("provideraccounts", "cspb_provideraccount", "cspb_account", ("Provider accounts", "Cuentas de proveedor")),
        ("contracts", "cspb_billingcontract", "cspb_account", ("Billing contracts", "Contratos de facturación")),
        ("agreements", "cspb_agreement", "cspb_account", ("Customer Agreements", "Contratos de cliente")),
    ),
    "cspb_inbox": (),
    "invoice": (
        ("dunning", "cspb_dunningevent", "cspb_invoice", ("Reminders and retries", "Recordatorios y reintentos")),
        ("payments", "cspb_payment", "cspb_invoice", ("Payments", "Pagos")),
    ),
}
# Which role guide a form's Help tab opens.
HELP_GUIDE = {"cspb_subscription": "sales_rep", "cspb_licensechangelog": "sales_rep", "account": "sales_rep",
              "cspb_billingcontract": "billing_admin", "invoice": "billing_admin", "cspb_usagesummary": "billing_admin",
              "cspb_provideraccount": "tenant_admin", "cspb_inbox": "tenant_admin", "cspb_syncrun": "tenant_admin"}
# Form scripts: table -> (web resource, onload handler, onsave handler).
FORM_SCRIPTS = {"cspb_subscription": ("cspb_/subscription_form.js", "CSPBridge.SubscriptionForm.onLoad",
                                      "CSPBridge.SubscriptionForm.onSave")}
# Standard tables that get a "CSPBridge" main form (our columns + related records) beside the platform's.
STANDARD_FORMS = ("account", "invoice")


def _guid(name: str) -> str:
    return "{" + stable_id(name) + "}"


def main_form(table: TableSpec) -> ET.Element:
    root = with_xsi(ET.Element("forms"))
    form_id = _guid(f"form:{table.logical_name}:main")
    sf = sub(root, "systemform")
    sub(sf, "formid", form_id)
    sub(sf, "IntroducedVersion", VERSION)
    sub(sf, "FormPresentation", "1")
    sub(sf, "FormActivationState", "1")
    form = sub(sub(sf, "form"), "tabs")
    tab = sub(form, "tab", verticallayout="true", id=_guid(f"tab:{table.logical_name}:general"),
              IsUserDefined="1", name="general")
    labels(tab, "labels", "label", ("General", "General"))
    section = sub(sub(sub(sub(tab, "columns"), "column", width="100%"), "sections"), "section",
                  showlabel="false", showbar="false", IsUserDefined="0",
                  id=_guid(f"section:{table.logical_name}:general"), name="general_section")
    labels(section, "labels", "label", ("General", "General"))
    rows = sub(section, "rows")
    for col in table.columns:
        cell = sub(sub(rows, "row"), "cell", id=_guid(f"cell:{table.logical_name}:{col.name}"))
        labels(cell, "labels", "label", col.label)
        sub(cell, "control", id=col.name, classid=CONTROL_CLASS[col.type], datafieldname=col.name)
    _related_tab(form, table.logical_name)
    _help_tab(form, table.logical_name)
    _scripts(sf.find("form"), table.logical_name)
    sub(sf, "IsCustomizable", "1")
    sub(sf, "CanBeDeleted", "1")
    labels(sf, "LocalizedNames", "LocalizedName",
           ("Information", "Información") if table.custom else ("CSPBridge", "CSPBridge"))
    return root


def _relationship(child: str, lookup: str) -> str:
    # The name solution.entity_xml.relationships gives the 1:N behind the child's lookup.
    return f"cspb_{child}_{lookup}"


def _related_tab(tabs: ET.Element, entity: str) -> None:
    grids = SUBGRIDS.get(entity, ())
    if not grids:
        return
    tab = sub(tabs, "tab", verticallayout="true", id=_guid(f"tab:{entity}:related"), IsUserDefined="1",
              name="related")
    labels(tab, "labels", "label", ("Related", "Relacionado"))
    sections = sub(sub(sub(tab, "columns"), "column", width="100%"), "sections")
    for control_id, child, lookup, title in grids:
        section = sub(sections, "section", showlabel="true", showbar="false", IsUserDefined="0",
                      id=_guid(f"section:{entity}:{control_id}"), name=f"{control_id}_section")
        labels(section, "labels", "label", title)
        cell = sub(sub(sub(section, "rows"), "row"), "cell", id=_guid(f"cell:{entity}:{control_id}"), colspan="1",
                   rowspan="10")
        labels(cell, "labels", "label", title)
        control = sub(cell, "control", id=control_id, classid=SUBGRID_CLASS, indicationOfSubgrid="true",
                      uniqueid=_guid(f"subgrid:{entity}:{control_id}"))
        params = sub(control, "parameters")
        if child.startswith("cspb_"):
            sub(params, "ViewId", _guid(f"view:{child}:public"))
        sub(params, "IsUserView", "false")
        sub(params, "RelationshipName", _relationship(child, lookup))
        sub(params, "TargetEntityType", child)
        sub(params, "AutoExpand", "Fixed")
        sub(params, "EnableQuickFind", "false")
        sub(params, "EnableViewPicker", "false")
        sub(params, "EnableJumpBar", "false")
        sub(params, "ChartGridMode", "Grid")
        sub(params, "RecordsPerPage", "10")


def _help_tab(tabs: ET.Element, entity: str) -> None:
    guide = HELP_GUIDE.get(entity)
    if guide is None:
        return
    tab = sub(tabs, "tab", verticallayout="true", id=_guid(f"tab:{entity}:help"), IsUserDefined="1", name="help")
    labels(tab, "labels", "label", ("Help", "Ayuda"))
    section = sub(sub(sub(sub(tab, "columns"), "column", width="100%"), "sections"), "section", showlabel="false",
                  showbar="false", IsUserDefined="0", id=_guid(f"section:{entity}:help"), name="help_section")
    labels(section, "labels", "label", ("Help", "Ayuda"))
    cell = sub(sub(sub(section, "rows"), "row"), "cell", id=_guid(f"cell:{entity}:help"), showlabel="false",
               rowspan="12")
    labels(cell, "labels", "label", ("Guide", "Guía"))
    control = sub(cell, "control", id=f"WebResource_{guide}_guide", classid=WEB_RESOURCE_CLASS)
    params = sub(control, "parameters")
    sub(params, "Url", f"cspb_/guides/en/{guide}.html")
    sub(params, "PassParameters", "true")
    sub(params, "Security", "false")
    sub(params, "Scrolling", "auto")
    sub(params, "Border", "false")


def _scripts(form: ET.Element | None, entity: str) -> None:
    script = FORM_SCRIPTS.get(entity)
    if script is None or form is None:
        return
    library, onload, onsave = script
    libraries = sub(form, "formLibraries")
    sub(libraries, "Library", name=library, libraryUniqueId=_guid(f"library:{entity}:{library}"))
    events = sub(form, "events")
    for event, handler in (("onload", onload), ("onsave", onsave)):
        ev = sub(events, "event", name=event, application="false", active="false")
        sub(sub(ev, "Handlers"), "Handler", functionName=handler, libraryName=library,
            handlerUniqueId=_guid(f"handler:{entity}:{event}"), enabled="true", parameters="",
            passExecutionContext="true")


def _view_columns(table: TableSpec) -> list[Col]:
    picked = [c for c in table.columns if c.name != "cspb_name" and c.type not in ("memo", "lookup")]
    return picked[:VIEW_COLUMNS]


def _view(table: TableSpec, kind: str) -> ET.Element:
    query_type, name = {
        # "en estado activo" keeps the Spanish name right for masculine and feminine table names alike
        "public": ("0", (f"Active {table.plural[0]}", f"{table.plural[1]} en estado activo")),
        "quickfind": ("4", (f"Quick Find Active {table.plural[0]}", f"Búsqueda rápida de {table.plural[1]}")),
        "lookup": ("64", (f"{table.label[0]} Lookup View", f"Vista de búsqueda de {table.label[1]}")),
    }[kind]
    root = with_xsi(ET.Element("savedqueries"))
    sq = sub(root, "savedquery")
    sub(sq, "IsCustomizable", "1")
    sub(sq, "CanBeDeleted", "0")
    sub(sq, "isquickfindquery", "1" if kind == "quickfind" else "0")
    sub(sq, "isprivate", "0")
    sub(sq, "isdefault", "1")
    sub(sq, "savedqueryid", _guid(f"view:{table.logical_name}:{kind}"))
    columns = ["cspb_name"] + ([c.name for c in _view_columns(table)] if kind != "lookup" else []) + ["createdon"]
    grid = sub(sub(sq, "layoutxml"), "grid", name="resultset", jump="cspb_name", select="1", icon="1", preview="1")
    row = sub(grid, "row", name="result", id=f"{table.logical_name}id")
    for column in columns:
        sub(row, "cell", name=column, width="300" if column == "cspb_name" else "125")
    sub(sq, "querytype", query_type)
    entity = sub(sub(sub(sq, "fetchxml"), "fetch", version="1.0", mapping="logical"), "entity",
                 name=table.logical_name)
    for column in [f"{table.logical_name}id", *columns]:
        sub(entity, "attribute", name=column)
    sub(entity, "order", attribute="cspb_name", descending="false")
    active = sub(entity, "filter", type="and")
    sub(active, "condition", attribute="statecode", operator="eq", value="0")
    if kind == "quickfind":
        search = sub(entity, "filter", type="or", isquickfindfields="1")
        types = {c.name: c.type for c in table.columns}
        keys = [k for _, cols in table.keys for k in cols if k != "cspb_name" and types.get(k) == "string"]
        for column in ["cspb_name", *keys]:
            sub(search, "condition", attribute=column, operator="like", value="{0}")
    sub(sq, "IntroducedVersion", VERSION)
    labels(sq, "LocalizedNames", "LocalizedName", name)
    return root


def extra_view(table: TableSpec, view: ViewSpec) -> ET.Element:
    """A spec-declared public view (solution.spec.VIEWS): filtered rows, not the table's default view."""
    known = {c.name for c in table.columns}
    unknown = [c for c in (*view.columns, *(a for a, _, _ in view.conditions)) if c not in known]
    if unknown:
        raise ValueError(f"view {view.key!r} on {table.logical_name} names unknown columns {unknown}")
    root = with_xsi(ET.Element("savedqueries"))
    sq = sub(root, "savedquery")
    sub(sq, "IsCustomizable", "1")
    sub(sq, "CanBeDeleted", "0")
    sub(sq, "isquickfindquery", "0")
    sub(sq, "isprivate", "0")
    sub(sq, "isdefault", "0")
    sub(sq, "savedqueryid", _guid(f"view:{table.logical_name}:{view.key}"))
    columns = ["cspb_name", *view.columns, "createdon"]
    grid = sub(sub(sq, "layoutxml"), "grid", name="resultset", jump="cspb_name", select="1", icon="1", preview="1")
    row = sub(grid, "row", name="result", id=f"{table.logical_name}id")
    for column in columns:
        sub(row, "cell", name=column, width="300" if column == "cspb_name" else "125")
    sub(sq, "querytype", "0")
    entity = sub(sub(sub(sq, "fetchxml"), "fetch", version="1.0", mapping="logical"), "entity",
                 name=table.logical_name)
    for column in [f"{table.logical_name}id", *columns]:
        sub(entity, "attribute", name=column)
    sub(entity, "order", attribute="cspb_name", descending="false")
    where = sub(entity, "filter", type="and")
    sub(where, "condition", attribute="statecode", operator="eq", value="0")
    for attribute, operator, value in view.conditions:
        sub(where, "condition", attribute=attribute, operator=operator, value=value)
    sub(sq, "IntroducedVersion", VERSION)
    labels(sq, "LocalizedNames", "LocalizedName", view.name)
    return root


def render(tables: tuple[TableSpec, ...], views: tuple[ViewSpec, ...] = VIEWS) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for table in tables:
        if not table.custom and table.logical_name not in STANDARD_FORMS:
            continue  # platform forms of standard tables are not ours to replace; we add one beside some
        base = f"Entities/{table.schema_name}"
        form = main_form(table)
        form_id = form.findtext("systemform/formid")
        files[f"{base}/FormXml/main/{form_id}.xml"] = to_bytes(form)
        if not table.custom:
            continue
        for kind in ("public", "quickfind", "lookup"):
            view = _view(table, kind)
            files[f"{base}/SavedQueries/{view.findtext('savedquery/savedqueryid')}.xml"] = to_bytes(view)
        for spec in (v for v in views if v.table == table.logical_name):
            view = extra_view(table, spec)
            files[f"{base}/SavedQueries/{view.findtext('savedquery/savedqueryid')}.xml"] = to_bytes(view)
    return files
