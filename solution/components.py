"""Solution-level components, rendered into the SolutionPackager source:

- Other/Solution.xml: manifest (unique name, version, publisher cspb, root components). The
  <Managed> value is a placeholder; solution/pack.py sets 0 or 1 when it builds the zip.
- Other/Customizations.xml: the parts without their own folder (languages, empty sections).
- PluginAssemblies/ServiceEndpoints.xml: the webhook service endpoint (SolutionPackager keeps all
  service endpoints in that one file).
- environmentvariabledefinitions/<schema>/environmentvariabledefinition.xml
- SdkMessageProcessingSteps/{id}.xml: the webhook steps.

Layout and element names: https://learn.microsoft.com/power-platform/alm/solution-packager-tool
(folder map), https://learn.microsoft.com/power-apps/developer/data-platform/register-web-hook
(service endpoint contract 8 = Webhook, auth WebhookKey sends the key as ?code=, which is what an
Azure Functions function key expects), and
https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/sdkmessageprocessingstep
(stage 40 = PostOperation, mode 1 = asynchronous).
No secret is shipped: the function URL and key are environment variables set per environment
(the key as a Key Vault secret reference).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from solution.entity_xml import LANGS, sub, to_bytes, with_xsi
from solution.ids import stable_id
from solution.roles import ROLES
from solution.spec import ALL

UNIQUE_NAME = "CSPBridge"
VERSION = "1.0.0.0"
PUBLISHER = "cspb"
PREFIX = "cspb"
OPTION_VALUE_PREFIX = "10000"
MANAGED_PLACEHOLDER = "2"  # SolutionPackager writes 2 ("both") in unpacked source; pack.py replaces it

ENDPOINT_ID = stable_id("serviceendpoint:cspb_webhook")
ENDPOINT_NAME = "CSPBridge Webhook"
# Well-known sdkmessage ids, identical in every Dataverse organization.
SDK_MESSAGES = {
    "Create": "9ebdbb1b-ea3e-db11-86a7-000a3a5473e8",
    "Update": "20bebb1b-ea3e-db11-86a7-000a3a5473e8",
}
SERVICE_ENDPOINT_TYPE_CODE = "4618"  # event handler is a serviceendpoint, not a plug-in type


@dataclass(frozen=True)
class Step:
    message: str
    entity: str
    filtering: tuple[str, ...] = ()
    pre_image: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"CSPBridge: {self.message} of {self.entity}"

    @property
    def id(self) -> str:
        return stable_id(f"step:{self.message}:{self.entity}")


STEPS: tuple[Step, ...] = (
    Step("Create", "cspb_subscription"),
    Step("Update", "cspb_subscription",
         ("cspb_quantity", "cspb_status", "cspb_term", "cspb_billingfrequency", "cspb_autorenew"),
         ("cspb_quantity", "cspb_status", "cspb_term", "cspb_billingfrequency", "cspb_autorenew")),
    Step("Create", "cspb_licensechangelog"),
    Step("Update", "cspb_licensechangelog",
         ("cspb_provisioningstatus", "cspb_newquantity", "cspb_effectivedate"),
         ("cspb_provisioningstatus", "cspb_newquantity")),
    Step("Create", "cspb_agreement"),
    Step("Create", "cspb_actionrequest"),
)


@dataclass(frozen=True)
class EnvVar:
    schema_name: str
    type: str  # environmentvariabledefinition.type option value
    label: tuple[str, str]
    description: tuple[str, str]


ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("cspb_FunctionUrl", "100000000",  # String
           ("CSPBridge Function URL", "URL de la función de CSPBridge"),
           ("Base URL of the CSPBridge Azure Functions app, e.g. https://contoso-cspb.azurewebsites.net",
            "URL base de la aplicación de Azure Functions de CSPBridge, p. ej. https://contoso-cspb.azurewebsites.net")),
    EnvVar("cspb_FunctionKey", "100000005",  # Secret: holds a Key Vault secret reference, never the key
           ("CSPBridge Function Key", "Clave de la función de CSPBridge"),
           ("Key Vault reference to the function key the webhook sends",
            "Referencia de Key Vault a la clave de función que envía el webhook")),
)


def _labels(parent: ET.Element, outer: str, label: tuple[str, str], *, inner: str = "label",
            default: bool = False) -> None:
    box = sub(parent, outer, **({"default": label[0]} if default else {}))
    for lang, text in zip(LANGS, label, strict=True):
        sub(box, inner, description=text, languagecode=str(lang))


def solution_xml() -> ET.Element:
    root = with_xsi(ET.Element("ImportExportXml", version="9.2.24074.209", SolutionPackageVersion="9.2",
                               languagecode="1033", generatedBy="CrmLive"))
    man = sub(root, "SolutionManifest")
    sub(man, "UniqueName", UNIQUE_NAME)
    _labels(man, "LocalizedNames", ("CSPBridge", "CSPBridge"), inner="LocalizedName")
    _labels(man, "Descriptions", ("Microsoft CSP back office for Dynamics 365",
                                  "Gestión administrativa de Microsoft CSP para Dynamics 365"), inner="Description")
    sub(man, "Version", VERSION)
    sub(man, "Managed", MANAGED_PLACEHOLDER)
    pub = sub(man, "Publisher")
    sub(pub, "UniqueName", PUBLISHER)
    _labels(pub, "LocalizedNames", ("CSPBridge", "CSPBridge"), inner="LocalizedName")
    _labels(pub, "Descriptions", ("Publisher of the CSPBridge solution", "Editor de la solución CSPBridge"),
            inner="Description")
    sub(pub, "EMailAddress", **{"xsi:nil": "true"})
    sub(pub, "SupportingWebsiteUrl", **{"xsi:nil": "true"})
    sub(pub, "CustomizationPrefix", PREFIX)
    sub(pub, "CustomizationOptionValuePrefix", OPTION_VALUE_PREFIX)
    sub(pub, "Addresses")
    roots = sub(man, "RootComponents")
    for table in ALL:
        # Standard tables go in as a shell (behavior 2): only our columns and keys, not the platform table.
        sub(roots, "RootComponent", type="1", schemaName=table.logical_name, behavior="0" if table.custom else "2")
    for var in ENV_VARS:
        sub(roots, "RootComponent", type="380", schemaName=var.schema_name, behavior="0")

    for role in ROLES:
        sub(roots, "RootComponent", type="20", id="{" + role.id + "}", behavior="0")
    sub(roots, "RootComponent", type="95", id="{" + ENDPOINT_ID + "}", behavior="0")
    for step in STEPS:
        sub(roots, "RootComponent", type="92", id="{" + step.id + "}", behavior="0")
    sub(man, "MissingDependencies")
    return root


def customizations_xml() -> ET.Element:
    root = with_xsi(ET.Element("ImportExportXml"))
    for tag in ("Entities", "Roles", "Workflows", "FieldSecurityProfiles", "Templates", "EntityMaps",
                "EntityRelationships", "OrganizationSettings", "optionsets", "CustomControls",
                "EntityDataProviders"):
        sub(root, tag)
    langs = sub(root, "Languages")
    for lang in LANGS:
        sub(langs, "Language", str(lang))
    return root


def service_endpoints_xml() -> ET.Element:
    root = with_xsi(ET.Element("ServiceEndpoints"))
    # Children in the order of CustomizationsSolution.xsd's serviceendpointtype; the name is an attribute only.
    ep = sub(root, "ServiceEndpoint", ServiceEndpointId="{" + ENDPOINT_ID + "}", Name=ENDPOINT_NAME)
    sub(ep, "ConnectionMode", "1")  # Normal
    sub(ep, "Contract", "8")  # Webhook
    sub(ep, "Description", "Posts subscription, license change and agreement events to the CSPBridge "
                           "function app. After import, `cspbridge solution connect` sets the URL and key.")
    sub(ep, "UserClaim", "1")  # None
    sub(ep, "IsCustomizable", "1")
    sub(ep, "AuthType", "4")  # WebhookKey
    sub(ep, "MessageFormat", "2")  # JSON
    # Placeholder host on a reserved TLD: the real URL is set per environment after import.
    sub(ep, "Url", "https://cspbridge.invalid/api/webhooks/dataverse")
    return root


def step_xml(step: Step) -> ET.Element:
    root = with_xsi(ET.Element("SdkMessageProcessingStep", Name=step.name,
                               SdkMessageProcessingStepId="{" + step.id + "}"))
    # Children in the order of CustomizationsSolution.xsd's sdkmessageprocessingsteptype; the service
    # endpoint is the step's EventHandler.
    sub(root, "PrimaryEntity", step.entity)
    sub(root, "AsyncAutoDelete", "1")
    sub(root, "Description", f"Webhook to CSPBridge on {step.message} of {step.entity}")
    sub(root, "FilteringAttributes", ",".join(step.filtering) if step.filtering else None)
    sub(root, "InvocationSource", "0")
    sub(root, "Mode", "1")  # asynchronous: a slow or down function never blocks a user's save
    sub(root, "Rank", "1")
    sub(root, "SdkMessageId", SDK_MESSAGES[step.message])
    sub(root, "EventHandler", ENDPOINT_ID)
    sub(root, "EventHandlerTypeCode", SERVICE_ENDPOINT_TYPE_CODE)
    sub(root, "Stage", "40")
    sub(root, "IsCustomizable", "1")
    sub(root, "IsHidden", "0")
    sub(root, "SupportedDeployment", "0")
    sub(root, "IntroducedVersion", VERSION)
    images = sub(root, "SdkMessageProcessingStepImages")
    if step.pre_image:
        img = sub(images, "SdkMessageProcessingStepImage", Name="PreImage")
        sub(img, "SdkMessageProcessingStepImageId", "{" + stable_id(f"image:{step.id}:pre") + "}")
        sub(img, "Attributes", ",".join(step.pre_image))
        sub(img, "EntityAlias", "PreImage")
        sub(img, "ImageType", "0")  # PreImage
        sub(img, "MessagePropertyName", "Target")
        sub(img, "IsCustomizable", "1")
    return root


def env_var_xml(var: EnvVar) -> ET.Element:
    root = ET.Element("environmentvariabledefinition", schemaname=var.schema_name)
    _labels(root, "description", var.description, default=True)
    _labels(root, "displayname", var.label, default=True)
    sub(root, "introducedversion", VERSION)
    sub(root, "iscustomizable", "1")
    sub(root, "isrequired", "1")
    sub(root, "secretstore", "0")  # 0 = Azure Key Vault (only meaningful for the Secret type)
    sub(root, "type", var.type)
    return root


def render() -> dict[str, bytes]:
    files = {
        "Other/Solution.xml": to_bytes(solution_xml()),
        "Other/Customizations.xml": to_bytes(customizations_xml()),
        "PluginAssemblies/ServiceEndpoints.xml": to_bytes(service_endpoints_xml()),
    }
    for var in ENV_VARS:
        path = f"environmentvariabledefinitions/{var.schema_name}/environmentvariabledefinition.xml"
        files[path] = to_bytes(env_var_xml(var))
    for step in STEPS:
        files[f"SdkMessageProcessingSteps/{{{step.id}}}.xml"] = to_bytes(step_xml(step))
    return files
