"""The "CSPBridge" model-driven app: its AppModule and its sitemap, in the SolutionPackager layout
(AppModules/<unique name>/AppModule.xml, AppModuleSiteMaps/<unique name>/AppModuleSiteMap.xml, each with a
_managed twin so a managed build packs). Element order follows CustomizationsSolution.xsd's AppModuleType
and AppModuleSiteMapType; the sitemap follows SiteMapType.xsd (Area > Group > SubArea, Titles first).

Sales reps, billing admins and tenant admins open the same app; the security roles decide what each sees.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from solution.entity_xml import VERSION, to_bytes, with_xsi
from solution.ids import stable_id
from solution.roles import ROLES
from solution.spec import Label

APP_UNIQUE_NAME = "cspb_CSPBridge"
APP_NAME: Label = ("CSPBridge", "CSPBridge")
APP_DESCRIPTION: Label = ("Microsoft CSP subscriptions, billing and reconciliation",
                          "Suscripciones de Microsoft CSP, facturación y conciliación")
# The default app icon every exported app references until a custom one is set.
DEFAULT_ICON_WEB_RESOURCE = "953b9fac-1e5e-e611-80d6-00155ded156f"
LANGS = (1033, 3082)


@dataclass(frozen=True)
class SubArea:
    id: str
    title: Label
    entity: str = ""
    url: str = ""


@dataclass(frozen=True)
class Group:
    id: str
    title: Label
    subareas: tuple[SubArea, ...]


@dataclass(frozen=True)
class Area:
    id: str
    title: Label
    groups: tuple[Group, ...]


def _view_url(entity: str, view_key: str) -> str:
    # URL-addressable list view (main.aspx?pagetype=entitylist&etn=...&viewid=...).
    return (f"/main.aspx?pagetype=entitylist&etn={entity}"
            f"&viewid=%7b{stable_id(f'view:{entity}:{view_key}')}%7d")


def _guide(role: str) -> str:
    return f"$webresource:cspb_/guides/en/{role}.html"


AREAS: tuple[Area, ...] = (
    Area("cspb_customers", ("Customers", "Clientes"), (
        Group("cspb_customers_group", ("Customers", "Clientes"), (
            SubArea("cspb_accounts", ("Accounts", "Cuentas"), entity="account"),
            SubArea("cspb_contacts", ("Contacts", "Contactos"), entity="contact"),
            SubArea("cspb_agreements", ("Customer Agreements", "Contratos de cliente"), entity="cspb_agreement"),
        )),
    )),
    Area("cspb_subscriptions", ("Subscriptions", "Suscripciones"), (
        Group("cspb_subscriptions_group", ("Subscriptions", "Suscripciones"), (
            SubArea("cspb_subscription", ("Subscriptions", "Suscripciones"), entity="cspb_subscription"),
            SubArea("cspb_changelogs", ("License Change Logs", "Registros de cambios de licencia"),
                    entity="cspb_licensechangelog"),
            SubArea("cspb_needsreview", ("Provisioning Needs Review", "Aprovisionamiento por revisar"),
                    url=_view_url("cspb_licensechangelog", "needsreview")),
        )),
        Group("cspb_provider_group", ("Providers", "Proveedores"), (
            SubArea("cspb_provideraccounts", ("Provider Accounts", "Cuentas de proveedor"),
                    entity="cspb_provideraccount"),
            SubArea("cspb_unmapped", ("Unmapped Provider Accounts", "Cuentas de proveedor sin asignar"),
                    url=_view_url("cspb_provideraccount", "unmapped")),
        )),
    )),
    Area("cspb_billing", ("Billing", "Facturación"), (
        Group("cspb_billing_group", ("Billing", "Facturación"), (
            SubArea("cspb_contracts", ("Billing Contracts", "Contratos de facturación"), entity="cspb_billingcontract"),
            SubArea("cspb_invoices", ("Invoices", "Facturas"), entity="invoice"),
            SubArea("cspb_usage", ("Usage Summaries", "Resúmenes de consumo"), entity="cspb_usagesummary"),
            SubArea("cspb_revenue", ("Revenue Schedule", "Calendario de ingresos"), entity="cspb_revenueschedule"),
            SubArea("cspb_dunning", ("Dunning Events", "Eventos de reclamación"), entity="cspb_dunningevent"),
        )),
        Group("cspb_rates_group", ("Rates", "Tipos"), (
            SubArea("cspb_exchangerates", ("Exchange Rates", "Tipos de cambio"), entity="cspb_exchangerate"),
            SubArea("cspb_taxrates", ("Tax Rates", "Tipos impositivos"), entity="cspb_taxrate"),
        )),
    )),
    Area("cspb_operations", ("Operations", "Operaciones"), (
        Group("cspb_operations_group", ("Operations", "Operaciones"), (
            SubArea("cspb_inbox", ("Inbox", "Bandeja de entrada"), entity="cspb_inbox"),
            SubArea("cspb_syncruns", ("Sync Runs", "Ejecuciones de sincronización"), entity="cspb_syncrun"),
            SubArea("cspb_reconfiles", ("Recon Files", "Archivos de conciliación"), entity="cspb_reconfile"),
            SubArea("cspb_actionrequests", ("Action Requests", "Solicitudes de acción"), entity="cspb_actionrequest"),
        )),
    )),
    Area("cspb_training", ("Training", "Formación"), (
        Group("cspb_training_group", ("Guides by role", "Guías por rol"), (
            SubArea("cspb_guide_sales_rep", ("Sales rep guide", "Guía del comercial"), url=_guide("sales_rep")),
            SubArea("cspb_guide_billing_admin", ("Billing admin guide", "Guía del administrador de facturación"),
                    url=_guide("billing_admin")),
            SubArea("cspb_guide_tenant_admin", ("Tenant admin guide", "Guía del administrador del inquilino"),
                    url=_guide("tenant_admin")),
        )),
    )),
)


def _titles(parent: ET.Element, label: Label) -> None:
    titles = ET.SubElement(parent, "Titles")
    for lcid, text in zip(LANGS, label, strict=True):
        ET.SubElement(titles, "Title", LCID=str(lcid), Title=text)


def sitemap() -> ET.Element:
    root = ET.Element("AppModuleSiteMap")
    ET.SubElement(root, "SiteMapUniqueName").text = APP_UNIQUE_NAME
    ET.SubElement(root, "SiteMapName").text = APP_NAME[0]
    site = ET.SubElement(root, "SiteMap", IntroducedVersion="7.0.0.0")
    for area in AREAS:
        a = ET.SubElement(site, "Area", Id=area.id, ShowGroups="true")
        _titles(a, area.title)
        for group in area.groups:
            g = ET.SubElement(a, "Group", Id=group.id, IsProfile="false")
            _titles(g, group.title)
            for item in group.subareas:
                attrs = {"Id": item.id, "AvailableOffline": "false", "PassParams": "false", "Client": "All"}
                if item.entity:
                    attrs["Entity"] = item.entity
                else:
                    attrs["Url"] = item.url
                s = ET.SubElement(g, "SubArea", attrs)
                _titles(s, item.title)
    names = ET.SubElement(root, "LocalizedNames")
    for lcid, text in zip(LANGS, APP_NAME, strict=True):
        ET.SubElement(names, "LocalizedName", description=text, languagecode=str(lcid))
    return root


def app_entities() -> list[str]:
    return sorted({s.entity for a in AREAS for g in a.groups for s in g.subareas if s.entity})


def app_module() -> ET.Element:
    root = ET.Element("AppModule")
    ET.SubElement(root, "UniqueName").text = APP_UNIQUE_NAME
    ET.SubElement(root, "IntroducedVersion").text = VERSION
    ET.SubElement(root, "WebResourceId").text = DEFAULT_ICON_WEB_RESOURCE
    ET.SubElement(root, "FormFactor").text = "1"
    ET.SubElement(root, "ClientType").text = "4"  # Unified Interface
    components = ET.SubElement(root, "AppModuleComponents")
    ET.SubElement(components, "AppModuleComponent", type="62", schemaName=APP_UNIQUE_NAME)
    for entity in app_entities():
        ET.SubElement(components, "AppModuleComponent", type="1", schemaName=entity)
    roles = ET.SubElement(root, "AppModuleRoleMaps")
    for role in ROLES:
        ET.SubElement(roles, "Role", id="{" + role.id + "}")
    names = ET.SubElement(root, "LocalizedNames")
    for lcid, text in zip(LANGS, APP_NAME, strict=True):
        ET.SubElement(names, "LocalizedName", description=text, languagecode=str(lcid))
    descriptions = ET.SubElement(root, "Descriptions")
    for lcid, text in zip(LANGS, APP_DESCRIPTION, strict=True):
        ET.SubElement(descriptions, "Description", description=text, languagecode=str(lcid))
    return root


def render() -> dict[str, bytes]:
    site = to_bytes(with_xsi(sitemap()))
    app = to_bytes(with_xsi(app_module()))
    folder_site = f"AppModuleSiteMaps/{APP_UNIQUE_NAME}"
    folder_app = f"AppModules/{APP_UNIQUE_NAME}"
    # SolutionPackager packs a managed build from the _managed twins; the content is the same here.
    return {f"{folder_site}/AppModuleSiteMap.xml": site, f"{folder_site}/AppModuleSiteMap_managed.xml": site,
            f"{folder_app}/AppModule.xml": app, f"{folder_app}/AppModule_managed.xml": app}
