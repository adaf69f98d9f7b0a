"""Commands on the forms' command bars, as classic RibbonDiffXml.

Modern commands (appaction) are the documented current way, but their JavaScript parameter format is
undocumented (../shared/reference/dynamics_app_facts.md §8), and these commands pass the form's context to
our script. So they are classic commands, validated against RibbonCore.xsd. Each one calls a function in
the cspb_/commands.js web resource, which writes a cspb_actionrequest row through Xrm.WebApi: no function
key or secret ever reaches the browser.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from solution.spec import Label

LIBRARY = "$webresource:cspb_/commands.js"
FORM_SCRIPT = "cspb_/subscription_form.js"


@dataclass(frozen=True)
class Command:
    entity: str
    key: str          # PreviewCharge
    function: str     # CSPBridge.Commands.previewCharge
    label: Label
    tooltip: Label
    sequence: int = 900


COMMANDS: tuple[Command, ...] = (
    Command("cspb_subscription", "PreviewCharge", "CSPBridge.Commands.previewCharge",
            ("Preview charge", "Vista previa del cargo"),
            ("What a seat or term change costs now, on the next invoice, and any refund",
             "Lo que cuesta un cambio de licencias o de plazo ahora, en la próxima factura y cualquier reembolso")),
    Command("cspb_licensechangelog", "RetryProvisioning", "CSPBridge.Commands.retryProvisioning",
            ("Retry provisioning", "Reintentar aprovisionamiento"),
            ("Send this failed change to the provider again (same idempotency key)",
             "Enviar de nuevo este cambio fallido al proveedor (misma clave de idempotencia)")),
    Command("cspb_inbox", "Replay", "CSPBridge.Commands.replayInbox",
            ("Replay", "Reprocesar"),
            ("Queue this failed webhook delivery again", "Volver a poner en cola esta entrega fallida")),
    Command("account", "AttestMca", "CSPBridge.Commands.attestMca",
            ("Attest MCA", "Aceptar MCA"),
            ("Record the customer's acceptance of the Microsoft Customer Agreement at Partner Center",
             "Registrar en Partner Center la aceptación del Microsoft Customer Agreement por el cliente")),
)


def commands_for(entity: str) -> list[Command]:
    return [c for c in COMMANDS if c.entity == entity]


def _loc(parent: ET.Element, label_id: str, label: Label) -> None:
    loc = ET.SubElement(parent, "LocLabel", Id=label_id)
    titles = ET.SubElement(loc, "Titles")
    for lang, text in zip((1033, 3082), label, strict=True):
        ET.SubElement(titles, "Title", description=text, languagecode=str(lang))


def ribbon(entity: str) -> ET.Element:
    """The entity's <RibbonDiffXml> (empty sections when it has no command, as exports emit)."""
    root = ET.Element("RibbonDiffXml")
    actions = ET.SubElement(root, "CustomActions")
    ET.SubElement(ET.SubElement(root, "Templates"), "RibbonTemplates", Id="Mscrm.Templates")
    definitions = ET.SubElement(root, "CommandDefinitions")
    rules = ET.SubElement(root, "RuleDefinitions")
    ET.SubElement(rules, "TabDisplayRules")
    ET.SubElement(rules, "DisplayRules")
    enable_rules = ET.SubElement(rules, "EnableRules")
    labels = ET.SubElement(root, "LocLabels")
    for command in commands_for(entity):
        base = f"cspb.{entity}.{command.key}"
        action = ET.SubElement(actions, "CustomAction", Id=f"{base}.CustomAction",
                               Location=f"Mscrm.Form.{entity}.MainTab.Save.Controls._children",
                               Sequence=str(command.sequence))
        ui = ET.SubElement(action, "CommandUIDefinition")
        ET.SubElement(ui, "Button", Id=f"{base}.Button", Command=f"{base}.Command",
                      LabelText=f"$LocLabels:{base}.Label", ToolTipTitle=f"$LocLabels:{base}.Label",
                      ToolTipDescription=f"$LocLabels:{base}.Tooltip", Sequence=str(command.sequence),
                      TemplateAlias="o1", ModernImage="Run")
        definition = ET.SubElement(definitions, "CommandDefinition", Id=f"{base}.Command")
        rule_refs = ET.SubElement(definition, "EnableRules")
        ET.SubElement(rule_refs, "EnableRule", Id=f"{base}.Existing")
        ET.SubElement(definition, "DisplayRules")
        js = ET.SubElement(ET.SubElement(definition, "Actions"), "JavaScriptFunction",
                           FunctionName=command.function, Library=LIBRARY)
        ET.SubElement(js, "CrmParameter", Value="PrimaryControl")
        # Only on a saved record: a request needs the record's id.
        rule = ET.SubElement(enable_rules, "EnableRule", Id=f"{base}.Existing")
        ET.SubElement(rule, "FormStateRule", State="Existing")
        _loc(labels, f"{base}.Label", command.label)
        _loc(labels, f"{base}.Tooltip", command.tooltip)
    return root
