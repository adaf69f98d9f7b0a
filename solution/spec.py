"""Compact spec of every table and column the CSPBridge solution ships (custom tables, and the cspb_
columns it adds to standard Dynamics 365 tables), with English (1033) and Spanish (3082) labels.

`solution/generate.py` turns this into the SolutionPackager source under solution/src/, which is
committed; a test checks that the committed XML equals what this spec produces, so they cannot
drift. Column names follow solution/TABLES.md.

Column schema names are kept all lower case on purpose: the Web API navigation property of a
lookup is its schema name, and the whole codebase writes `<column>@odata.bind` in lower case.
"""

from __future__ import annotations

from dataclasses import dataclass

Label = tuple[str, str]  # (English, Spanish)


@dataclass(frozen=True)
class Col:
    name: str
    type: str  # string|memo|int|decimal|money|bool|datetime|date|picklist|lookup
    label: Label
    target: str | None = None
    options: tuple[tuple[int, str, str], ...] = ()
    required: bool = False
    max_length: int | None = None
    # Two-option (bool) columns: the value Dataverse stores on create when none is sent (AppDefaultValue).
    default: bool = False


@dataclass(frozen=True)
class TableSpec:
    logical_name: str
    schema_name: str
    entity_set_name: str
    label: Label
    plural: Label
    columns: tuple[Col, ...]
    keys: tuple[tuple[str, tuple[str, ...]], ...]
    custom: bool = True


def S(name: str, en: str, es: str, length: int = 100) -> Col:
    return Col(name, "string", (en, es), max_length=length)


def M(name: str, en: str, es: str) -> Col:
    return Col(name, "memo", (en, es), max_length=1048576)


def I(name: str, en: str, es: str) -> Col:  # noqa: E743 - one-letter builders keep the spec readable
    return Col(name, "int", (en, es))


def D(name: str, en: str, es: str) -> Col:
    return Col(name, "decimal", (en, es))


def Mo(name: str, en: str, es: str) -> Col:
    return Col(name, "money", (en, es))


def B(name: str, en: str, es: str, default: bool = False) -> Col:
    return Col(name, "bool", (en, es), default=default)


def DT(name: str, en: str, es: str) -> Col:
    return Col(name, "datetime", (en, es))


def DA(name: str, en: str, es: str) -> Col:
    return Col(name, "date", (en, es))


def P(name: str, en: str, es: str, options: tuple[tuple[int, str, str], ...]) -> Col:
    return Col(name, "picklist", (en, es), options=options)


def L(name: str, target: str, en: str, es: str) -> Col:
    return Col(name, "lookup", (en, es), target=target)


def _required(cols: tuple[Col, ...], names: set[str]) -> tuple[Col, ...]:
    return tuple(
        Col(c.name, c.type, c.label, c.target, c.options, True, c.max_length) if c.name in names else c
        for c in cols
    )


PROVIDER = ((1, "Partner Center", "Partner Center"), (2, "Pax8", "Pax8"), (3, "Manual", "Manual"),
            (4, "TD SYNNEX", "TD SYNNEX"), (5, "Ingram Micro", "Ingram Micro"))
CURRENCY = S("cspb_currencycode", "Currency Code", "Código de moneda", 3)
NAME = S("cspb_name", "Name", "Nombre", 200)


def _table(
    logical: str,
    schema: str,
    entity_set: str,
    label: Label,
    plural: Label,
    keys: tuple[tuple[str, tuple[str, ...]], ...],
    *cols: Col,
) -> TableSpec:
    key_cols = {c for _, names in keys for c in names}
    return TableSpec(logical, schema, entity_set, label, plural,
                     _required((NAME, *cols), key_cols | {"cspb_name"}), keys)


TABLES: tuple[TableSpec, ...] = (
    _table(
        "cspb_provideraccount", "cspb_ProviderAccount", "cspb_provideraccounts",
        ("Provider Account", "Cuenta de proveedor"), ("Provider Accounts", "Cuentas de proveedor"),
        (("cspb_provideraccount_key", ("cspb_provider", "cspb_externalid")),),
        P("cspb_provider", "Provider", "Proveedor", PROVIDER),
        S("cspb_externalid", "External ID", "ID externo"),
        S("cspb_domain", "Domain", "Dominio", 255),
        S("cspb_country", "Country", "País", 2),
        CURRENCY,
        L("cspb_account", "account", "Account", "Cuenta"),
        P("cspb_mappingstatus", "Mapping Status", "Estado de asignación",
          ((1, "Mapped", "Asignada"), (2, "Unmapped", "Sin asignar"))),
        B("cspb_mcaattested", "MCA Attested", "MCA aceptado"),
        DT("cspb_lastsyncedon", "Last Synced On", "Última sincronización"),
    ),
    _table(
        "cspb_billingcontract", "cspb_BillingContract", "cspb_billingcontracts",
        ("Billing Contract", "Contrato de facturación"), ("Billing Contracts", "Contratos de facturación"),
        (("cspb_contractnumber_key", ("cspb_contractnumber",)),),
        S("cspb_contractnumber", "Contract Number", "Número de contrato"),
        L("cspb_account", "account", "Account", "Cuenta"),
        P("cspb_frequency", "Billing Frequency", "Frecuencia de facturación",
          ((1, "Monthly", "Mensual"), (3, "Quarterly", "Trimestral"), (12, "Annual", "Anual"),
           (36, "Triennial", "Trienal"))),
        P("cspb_policy", "Billing Policy", "Política de facturación",
          ((1, "Advance", "Por adelantado"), (2, "Arrears", "A periodo vencido"))),
        DA("cspb_startdate", "Start Date", "Fecha de inicio"),
        DA("cspb_enddate", "End Date", "Fecha de fin"),
        I("cspb_billingoffsetdays", "Billing Offset (Days)", "Desfase de facturación (días)"),
        CURRENCY,
        L("cspb_transactioncurrency", "transactioncurrency", "Currency", "Divisa"),
        L("cspb_pricelevel", "pricelevel", "Price List", "Lista de precios"),
        P("cspb_refundpolicy", "Refund Policy", "Política de reembolso",
          ((0, "Use Global Setting", "Usar configuración global"), (1, "Yes", "Sí"), (2, "No", "No"))),
        P("cspb_prorateunit", "Proration Unit", "Unidad de prorrateo",
          ((1, "Days", "Días"), (2, "Months", "Meses"))),
        D("cspb_usagemarkuppct", "Usage Markup %", "% de margen sobre consumo"),
        Mo("cspb_minimumcommitment", "Minimum Commitment", "Compromiso mínimo"),
        P("cspb_usagegrouping", "Usage Grouping", "Agrupación de consumo",
          ((1, "Subscription", "Suscripción"), (2, "Meter Category", "Categoría de medidor"),
           (3, "Resource Group Tag", "Etiqueta de grupo de recursos"))),
        S("cspb_paymentprovider", "Payment Provider", "Proveedor de pago", 50),
        S("cspb_paymenttoken", "Payment Token", "Token de pago", 500),
        S("cspb_language", "Invoice Language", "Idioma de factura", 5),
        L("cspb_primarybillingcontact", "contact", "Primary Billing Contact", "Contacto de facturación principal"),
        B("cspb_autocharge", "Auto Charge", "Cobro automático"),
        B("cspb_autosend", "Auto Send", "Envío automático"),
        B("cspb_autosync", "Auto Sync", "Sincronización automática"),
        D("cspb_discountpct", "Discount %", "% de descuento"),
        D("cspb_taxratepct", "Tax Rate %", "% de impuesto"),
        DA("cspb_nextinvoicedate", "Next Invoice Date", "Próxima fecha de factura"),
        I("cspb_estimatedusageday", "Bill Estimated Usage From Day", "Facturar consumo estimado desde el día"),
        P("cspb_suspendedbilling", "Suspended Subscriptions", "Suscripciones suspendidas",
          ((1, "Keep Billing (as Microsoft does)", "Seguir facturando (como Microsoft)"),
           (2, "Stop Billing", "Dejar de facturar"))),
        S("cspb_taxjurisdiction", "Tax Jurisdiction", "Jurisdicción fiscal", 20),
        I("cspb_paymenttermsdays", "Payment Terms (Days)", "Plazo de pago (días)"),
        # Dunning policy: days overdue, comma-separated ("7,14"); blank = the defaults in billing/dunning.py.
        S("cspb_dunningreminderdays", "Reminders (Days Overdue)", "Recordatorios (días de retraso)", 100),
        S("cspb_dunningretrydays", "Charge Retries (Days Overdue)", "Reintentos de cobro (días de retraso)", 100),
        I("cspb_dunningfinalday", "Final Notice (Days Overdue)", "Último aviso (días de retraso)"),
        I("cspb_dunningsuspendday", "Flag for Suspension (Days Overdue)", "Marcar para suspensión (días de retraso)"),
        B("cspb_dunningoff", "Dunning Off", "Reclamación de cobro desactivada"),
    ),
    _table(
        "cspb_subscription", "cspb_Subscription", "cspb_subscriptions",
        ("Subscription", "Suscripción"), ("Subscriptions", "Suscripciones"),
        (("cspb_providersubscriptionid_key", ("cspb_providersubscriptionid",)),),
        S("cspb_providersubscriptionid", "Provider Subscription ID", "ID de suscripción del proveedor"),
        P("cspb_provider", "Provider", "Proveedor", PROVIDER),
        L("cspb_provideraccount", "cspb_provideraccount", "Provider Account", "Cuenta de proveedor"),
        L("cspb_billingcontract", "cspb_billingcontract", "Billing Contract", "Contrato de facturación"),
        L("cspb_product", "product", "Product", "Producto"),
        S("cspb_productid", "Product ID", "ID de producto"),
        S("cspb_skuid", "SKU ID", "ID de SKU"),
        S("cspb_availabilityid", "Availability ID", "ID de disponibilidad"),
        S("cspb_offerid", "Offer ID", "ID de oferta", 200),
        S("cspb_productfamily", "Product Family", "Familia de productos"),
        I("cspb_quantity", "Quantity", "Cantidad"),
        S("cspb_term", "Term", "Plazo", 10),
        S("cspb_billingfrequency", "Billing Frequency", "Frecuencia de facturación", 10),
        P("cspb_status", "Status", "Estado",
          ((1, "Active", "Activa"), (2, "Suspended", "Suspendida"), (3, "Expired", "Vencida"),
           (4, "Cancelled", "Cancelada"), (5, "Pending", "Pendiente"), (6, "Trial", "Prueba"))),
        P("cspb_kind", "Kind", "Tipo",
          ((1, "License", "Licencia"), (2, "Azure Plan", "Plan de Azure"),
           (3, "Azure Entitlement", "Derecho de Azure"), (4, "Marketplace", "Marketplace"),
           (5, "One Time", "Pago único"), (6, "Legacy Azure", "Azure heredado"))),
        DT("cspb_startdate", "Start Date", "Fecha de inicio"),
        DT("cspb_commitmentenddate", "Commitment End Date", "Fin del compromiso"),
        B("cspb_autorenew", "Auto Renew", "Renovación automática"),
        Mo("cspb_unitcost", "Unit Cost", "Costo unitario"),
        Mo("cspb_unitprice", "Unit Price", "Precio unitario"),
        CURRENCY,
        S("cspb_orderid", "Order ID", "ID de pedido"),
        L("cspb_parentsubscription", "cspb_subscription", "Parent Subscription", "Suscripción principal"),
        B("cspb_driftflag", "Drift Detected", "Desviación detectada"),
        M("cspb_driftdetail", "Drift Detail", "Detalle de la desviación"),
        B("cspb_needstransition", "Needs Transition", "Requiere transición"),
        DT("cspb_lastsyncedon", "Last Synced On", "Última sincronización"),
        # The subscription this one replaced through a Partner Center transition (upgrade, term or
        # billing-cycle conversion, trial to paid).
        L("cspb_transitionedfrom", "cspb_subscription", "Transitioned From", "Transición desde"),
        B("cspb_converttopaid", "Convert to Paid at Trial End", "Convertir a pago al final de la prueba"),
        # The guided move of a legacy Microsoft Azure (MS-AZR-0145P) subscription to an Azure plan
        # (billing/azure_transition.py): its state, the rep's steps, and the plan once the sync sees it.
        P("cspb_transitionstate", "Transition State", "Estado de la transición",
          ((1, "Flagged", "Marcada"), (2, "Instructions Sent", "Instrucciones enviadas"),
           (3, "New Plan Seen", "Nuevo plan detectado"), (4, "Done", "Completada"))),
        M("cspb_transitioninstructions", "Transition Instructions", "Instrucciones de transición"),
        L("cspb_transitionplan", "cspb_subscription", "Azure Plan (Transition)", "Plan de Azure (transición)"),
    ),
    _table(
        "cspb_licensechangelog", "cspb_LicenseChangeLog", "cspb_licensechangelogs",
        ("License Change Log", "Registro de cambios de licencia"),
        ("License Change Logs", "Registros de cambios de licencia"),
        # One provider order belongs to one change log: an order adopted after a lost response can
        # never be claimed by a second change log.
        (("cspb_changekey_key", ("cspb_changekey",)), ("cspb_providerorderid_key", ("cspb_providerorderid",))),
        S("cspb_changekey", "Change Key", "Clave de cambio", 200),
        L("cspb_subscription", "cspb_subscription", "Subscription", "Suscripción"),
        P("cspb_changetype", "Change Type", "Tipo de cambio",
          ((1, "New", "Nueva"), (2, "Increase", "Aumento"), (3, "Decrease", "Reducción"),
           (4, "Price Change", "Cambio de precio"), (5, "Cancel", "Cancelación"), (6, "Renew", "Renovación"),
           (7, "Status Change", "Cambio de estado"), (8, "Term Change", "Cambio de plazo"))),
        I("cspb_oldquantity", "Old Quantity", "Cantidad anterior"),
        I("cspb_newquantity", "New Quantity", "Cantidad nueva"),
        Mo("cspb_oldprice", "Old Price", "Precio anterior"),
        Mo("cspb_newprice", "New Price", "Precio nuevo"),
        DT("cspb_effectivedate", "Effective Date", "Fecha efectiva"),
        # A Term Change's target: catalog item (product:sku:availability), term and billing frequency.
        S("cspb_targetcatalogitemid", "Target Catalog Item", "Artículo de catálogo de destino", 200),
        S("cspb_targetterm", "Target Term", "Plazo de destino", 10),
        S("cspb_targetbillingfrequency", "Target Billing Frequency", "Frecuencia de facturación de destino", 10),
        S("cspb_requestedby", "Requested By", "Solicitado por", 200),
        P("cspb_origin", "Origin", "Origen",
          ((1, "Sales Rep", "Representante de ventas"), (2, "Portal", "Portal"),
           (3, "Provider Sync", "Sincronización con proveedor"), (4, "Renewal", "Renovación"),
           (5, "Transition", "Transición"))),
        P("cspb_provisioningstatus", "Provisioning Status", "Estado de aprovisionamiento",
          ((1, "Awaiting", "En espera"), (2, "Provisioned", "Aprovisionado"), (3, "Failed", "Error"),
           (4, "Not Applicable", "No aplica"), (5, "Refused", "Rechazado"), (6, "Sending", "Enviando"),
           (7, "Needs Review", "Requiere revisión"), (8, "Manual Action Required", "Requiere acción manual"))),
        DT("cspb_senttoprovideron", "Sent to Provider On", "Enviado al proveedor el"),
        S("cspb_providerorderid", "Provider Order ID", "ID de pedido del proveedor"),
        S("cspb_idempotencykey", "Idempotency Key", "Clave de idempotencia"),
        M("cspb_error", "Error", "Error"),
        B("cspb_archived", "Archived", "Archivado"),
        B("cspb_isdrift", "Is Drift", "Es desviación"),
        L("cspb_invoice", "invoice", "Invoice", "Factura"),
    ),
    _table(
        "cspb_agreement", "cspb_Agreement", "cspb_agreements",
        ("Customer Agreement", "Contrato de cliente"), ("Customer Agreements", "Contratos de cliente"),
        (("cspb_agreementkey_key", ("cspb_agreementkey",)),),
        S("cspb_agreementkey", "Agreement Key", "Clave de contrato", 200),
        L("cspb_provideraccount", "cspb_provideraccount", "Provider Account", "Cuenta de proveedor"),
        L("cspb_account", "account", "Account", "Cuenta"),
        L("cspb_contact", "contact", "Contact", "Contacto"),
        S("cspb_email", "Email", "Correo electrónico", 200),
        S("cspb_firstname", "First Name", "Nombre de pila"),
        S("cspb_lastname", "Last Name", "Apellidos"),
        S("cspb_phone", "Phone", "Teléfono", 50),
        DT("cspb_dateagreed", "Date Agreed", "Fecha de aceptación"),
        S("cspb_templateid", "Template ID", "ID de plantilla"),
        S("cspb_agreementtype", "Agreement Type", "Tipo de contrato"),
        P("cspb_status", "Status", "Estado",
          ((1, "Pending", "Pendiente"), (2, "Attested", "Aceptado"), (3, "Failed", "Error"))),
        M("cspb_error", "Error", "Error"),
    ),
    _table(
        "cspb_usagesummary", "cspb_UsageSummary", "cspb_usagesummaries",
        ("Usage Summary", "Resumen de consumo"), ("Usage Summaries", "Resúmenes de consumo"),
        (("cspb_summarykey_key", ("cspb_summarykey",)),),
        S("cspb_summarykey", "Summary Key", "Clave de resumen", 400),
        L("cspb_provideraccount", "cspb_provideraccount", "Provider Account", "Cuenta de proveedor"),
        S("cspb_customerid", "Customer ID", "ID de cliente"),
        S("cspb_subscriptionid", "Subscription ID", "ID de suscripción"),
        S("cspb_entitlementid", "Entitlement ID", "ID de derecho"),
        S("cspb_metercategory", "Meter Category", "Categoría de medidor", 200),
        S("cspb_resourcegrouptag", "Resource Group Tag", "Etiqueta de grupo de recursos", 200),
        S("cspb_period", "Period", "Periodo", 7),
        CURRENCY,
        D("cspb_quantity", "Quantity", "Cantidad"),
        Mo("cspb_costbeforepec", "Cost Before PEC", "Costo antes de PEC"),
        Mo("cspb_pecamount", "PEC Amount", "Importe de PEC"),
        Mo("cspb_cost", "Cost", "Costo"),
        Mo("cspb_pricingtotal", "Price Total", "Precio total"),
        I("cspb_rowcount", "Row Count", "Número de filas"),
        B("cspb_billed", "Billed", "Facturado"),
        L("cspb_invoice", "invoice", "Invoice", "Factura"),
        S("cspb_usagesource", "Usage Source", "Origen del consumo", 20),
        Mo("cspb_billedcost", "Billed Cost", "Costo facturado"),
        S("cspb_billedsource", "Billed Source", "Origen facturado", 20),
    ),
    _table(
        "cspb_reconfile", "cspb_ReconFile", "cspb_reconfiles",
        ("Reconciliation File", "Archivo de conciliación"), ("Reconciliation Files", "Archivos de conciliación"),
        (("cspb_filekey_key", ("cspb_filekey",)),),
        S("cspb_filekey", "File Key", "Clave de archivo", 200),
        S("cspb_period", "Period", "Periodo", 7),
        S("cspb_kind", "Kind", "Tipo", 50),
        CURRENCY,
        S("cspb_blobpath", "Blob Path", "Ruta del blob", 1000),
        S("cspb_checksum", "Checksum", "Suma de comprobación", 128),
        I("cspb_rowsread", "Rows Read", "Filas leídas"),
        I("cspb_rowsaggregated", "Rows Aggregated", "Filas agregadas"),
        I("cspb_rowsquarantined", "Rows Quarantined", "Filas en cuarentena"),
        P("cspb_status", "Status", "Estado",
          ((1, "Ingested", "Ingerido"), (2, "Aggregated", "Agregado"), (3, "Failed", "Error"))),
        M("cspb_error", "Error", "Error"),
    ),
    _table(
        "cspb_syncrun", "cspb_SyncRun", "cspb_syncruns",
        ("Sync Run", "Ejecución de sincronización"), ("Sync Runs", "Ejecuciones de sincronización"),
        (("cspb_runkey_key", ("cspb_runkey",)),),
        S("cspb_runkey", "Run Key", "Clave de ejecución", 200),
        S("cspb_kind", "Kind", "Tipo", 50),
        DT("cspb_startedon", "Started On", "Iniciado el"),
        DT("cspb_endedon", "Ended On", "Finalizado el"),
        P("cspb_status", "Status", "Estado",
          ((1, "Running", "En curso"), (2, "Succeeded", "Correcto"), (3, "Failed", "Error"),
           (4, "Partially Succeeded", "Correcto parcialmente"))),
        M("cspb_counts", "Counts", "Recuentos"),
        I("cspb_errorcount", "Error Count", "Número de errores"),
        M("cspb_errors", "Errors", "Errores"),
    ),
    _table(
        "cspb_inbox", "cspb_Inbox", "cspb_inboxes",
        ("Inbox Event", "Evento de bandeja de entrada"), ("Inbox Events", "Eventos de bandeja de entrada"),
        (("cspb_eventkey_key", ("cspb_eventkey",)),),
        S("cspb_eventkey", "Event Key", "Clave de evento", 400),
        S("cspb_source", "Source", "Origen", 50),
        S("cspb_messagename", "Message Name", "Nombre del mensaje"),
        S("cspb_entityname", "Entity Name", "Nombre de la entidad"),
        S("cspb_recordid", "Record ID", "ID de registro"),
        M("cspb_payload", "Payload", "Contenido"),
        P("cspb_status", "Status", "Estado",
          ((1, "Received", "Recibido"), (2, "Queued", "En cola"), (3, "Processed", "Procesado"),
           (4, "Failed", "Error"), (5, "Duplicate", "Duplicado"))),
        M("cspb_error", "Error", "Error"),
        I("cspb_attempts", "Attempts", "Intentos"),
        DT("cspb_receivedon", "Received On", "Recibido el"),
    ),
    _table(
        # A command on a Dynamics form writes one of these (no function key in the browser); its Create fires
        # the webhook step, the Function App does the work and writes the status and result back.
        "cspb_actionrequest", "cspb_ActionRequest", "cspb_actionrequests",
        ("Action Request", "Solicitud de acción"), ("Action Requests", "Solicitudes de acción"),
        (("cspb_requestkey_key", ("cspb_requestkey",)),),
        S("cspb_requestkey", "Request Key", "Clave de solicitud", 100),
        P("cspb_action", "Action", "Acción",
          ((1, "Preview Charge", "Vista previa del cargo"), (2, "Retry Provisioning", "Reintentar aprovisionamiento"),
           (3, "Replay Inbox Event", "Reprocesar evento"), (4, "Attest MCA", "Aceptar MCA"))),
        S("cspb_targettable", "Target Table", "Tabla de destino", 100),
        S("cspb_targetid", "Target ID", "ID de destino", 100),
        M("cspb_parameters", "Parameters", "Parámetros"),
        P("cspb_status", "Status", "Estado",
          ((1, "Pending", "Pendiente"), (2, "Done", "Hecho"), (3, "Failed", "Error"))),
        M("cspb_result", "Result", "Resultado"),
        DT("cspb_completedon", "Completed On", "Completado el"),
    ),
    _table(
        "cspb_dunningevent", "cspb_DunningEvent", "cspb_dunningevents",
        ("Dunning Event", "Evento de reclamación"), ("Dunning Events", "Eventos de reclamación"),
        (("cspb_eventkey_key", ("cspb_eventkey",)),),
        S("cspb_eventkey", "Event Key", "Clave de evento", 200),
        L("cspb_invoice", "invoice", "Invoice", "Factura"),
        P("cspb_kind", "Kind", "Tipo",
          ((1, "Reminder", "Recordatorio"), (2, "Charge Retry", "Reintento de cobro"),
           (3, "Final Notice", "Último aviso"), (4, "Flagged for Suspension", "Marcada para suspensión"))),
        I("cspb_step", "Step", "Paso"),
        I("cspb_daysoverdue", "Days Overdue", "Días de retraso"),
        DA("cspb_date", "Date", "Fecha"),
        M("cspb_outcome", "Outcome", "Resultado"),
    ),
    _table(
        "cspb_revenueschedule", "cspb_RevenueSchedule", "cspb_revenueschedules",
        ("Revenue Schedule", "Calendario de ingresos"), ("Revenue Schedules", "Calendarios de ingresos"),
        (("cspb_schedulekey_key", ("cspb_schedulekey",)),),
        S("cspb_schedulekey", "Schedule Key", "Clave de calendario", 200),
        L("cspb_invoice", "invoice", "Invoice", "Factura"),
        L("cspb_billingcontract", "cspb_billingcontract", "Billing Contract", "Contrato de facturación"),
        S("cspb_month", "Month", "Mes", 7),
        Mo("cspb_amount", "Amount", "Importe"),
        CURRENCY,
        B("cspb_exported", "Exported", "Exportado"),
    ),
    _table(
        "cspb_payment", "cspb_Payment", "cspb_payments",
        ("Payment", "Pago"), ("Payments", "Pagos"),
        (("cspb_paymentkey_key", ("cspb_paymentkey",)),),
        S("cspb_paymentkey", "Payment Key", "Clave de pago", 200),
        L("cspb_invoice", "invoice", "Invoice", "Factura"),
        Mo("cspb_amount", "Amount", "Importe"),
        CURRENCY,
        S("cspb_processor", "Processor", "Procesador", 50),
        S("cspb_processorpaymentid", "Processor Payment ID", "ID de pago del procesador", 200),
        P("cspb_status", "Status", "Estado",
          ((1, "Pending", "Pendiente"), (2, "Succeeded", "Correcto"), (3, "Failed", "Error"),
           (4, "Expired", "Caducado"))),
        M("cspb_error", "Error", "Error"),
        DT("cspb_paidon", "Paid On", "Pagado el"),
    ),
    _table(
        "cspb_markuprule", "cspb_MarkupRule", "cspb_markuprules",
        ("Markup Rule", "Regla de margen"), ("Markup Rules", "Reglas de margen"),
        (("cspb_rulekey_key", ("cspb_rulekey",)),),
        S("cspb_rulekey", "Rule Key", "Clave de regla", 200),
        S("cspb_productfamily", "Product Family", "Familia de productos"),
        D("cspb_markuppct", "Markup %", "% de margen"),
        Mo("cspb_fixedprice", "Fixed Price", "Precio fijo"),
        CURRENCY,
        L("cspb_pricelevel", "pricelevel", "Price List", "Lista de precios"),
    ),
    _table(
        "cspb_pricechange", "cspb_PriceChange", "cspb_pricechanges",
        ("Price Change", "Cambio de precio"), ("Price Changes", "Cambios de precio"),
        (("cspb_changekey_key", ("cspb_changekey",)),),
        S("cspb_changekey", "Change Key", "Clave de cambio", 200),
        L("cspb_productpricelevel", "productpricelevel", "Price List Item", "Elemento de lista de precios"),
        Mo("cspb_oldamount", "Old Amount", "Importe anterior"),
        Mo("cspb_newamount", "New Amount", "Importe nuevo"),
        P("cspb_status", "Status", "Estado",
          ((1, "Pending Review", "Pendiente de revisión"), (2, "Approved", "Aprobado"), (3, "Rejected", "Rechazado"),
           (4, "Applied", "Aplicado"))),
        S("cspb_pricekey", "Price Key", "Clave de precio", 300),
        CURRENCY,
        DA("cspb_effectivedate", "Effective Date", "Fecha efectiva"),
        B("cspb_scheduled", "Announced Ahead", "Anunciado por adelantado"),
        Mo("cspb_oldcost", "Old Provider Cost", "Costo anterior del proveedor"),
        Mo("cspb_newcost", "New Provider Cost", "Costo nuevo del proveedor"),
        I("cspb_subscriptioncount", "Subscriptions Affected", "Suscripciones afectadas"),
        I("cspb_seats", "Seats Affected", "Licencias afectadas"),
        Mo("cspb_marginimpact", "Margin Impact per Period", "Impacto en el margen por periodo"),
    ),
    # What the catalog sync brings into Dynamics besides the products synced subscriptions use
    # (sync.catalog_selection); a row of kind Everything imports the whole price sheet.
    _table(
        "cspb_catalogselection", "cspb_CatalogSelection", "cspb_catalogselections",
        ("Catalog Selection", "Selección de catálogo"), ("Catalog Selections", "Selecciones de catálogo"),
        (("cspb_selectionkey_key", ("cspb_selectionkey",)),),
        S("cspb_selectionkey", "Selection Key", "Clave de selección", 250),
        P("cspb_kind", "Kind", "Tipo",
          ((1, "Product", "Producto"), (2, "SKU", "SKU"), (3, "Product Family", "Familia de productos"),
           (4, "Publisher", "Editor"), (5, "Everything", "Todo"))),
        S("cspb_value", "Value", "Valor", 200),
    ),
    _table(
        "cspb_exchangerate", "cspb_ExchangeRate", "cspb_exchangerates",
        ("Exchange Rate", "Tipo de cambio"), ("Exchange Rates", "Tipos de cambio"),
        (("cspb_ratekey_key", ("cspb_ratekey",)),),
        S("cspb_ratekey", "Rate Key", "Clave del tipo", 50),
        S("cspb_fromcurrency", "From Currency", "Moneda de origen", 3),
        S("cspb_tocurrency", "To Currency", "Moneda de destino", 3),
        S("cspb_month", "Month", "Mes", 7),
        D("cspb_rate", "Rate", "Tipo"),
        S("cspb_source", "Source", "Fuente", 200),
    ),
    _table(
        "cspb_taxrate", "cspb_TaxRate", "cspb_taxrates",
        ("Tax Rate", "Tipo impositivo"), ("Tax Rates", "Tipos impositivos"),
        (("cspb_taxratekey_key", ("cspb_taxratekey",)),),
        S("cspb_taxratekey", "Tax Rate Key", "Clave del tipo impositivo", 50),
        S("cspb_jurisdiction", "Jurisdiction", "Jurisdicción", 20),
        P("cspb_taxcategory", "Tax Category", "Categoría fiscal",
          ((1, "Standard", "General"), (2, "Reduced", "Reducido"), (3, "Exempt", "Exento"))),
        D("cspb_ratepct", "Rate %", "% del tipo"),
        S("cspb_taxname", "Tax Name", "Nombre del impuesto", 100),
    ),
    _table(
        "cspb_kpisnapshot", "cspb_KpiSnapshot", "cspb_kpisnapshots",
        ("KPI Snapshot", "Instantánea de KPI"), ("KPI Snapshots", "Instantáneas de KPI"),
        (("cspb_snapshotkey_key", ("cspb_snapshotkey",)),),
        S("cspb_snapshotkey", "Snapshot Key", "Clave de instantánea", 50),
        DA("cspb_asof", "As Of", "A fecha de"),
        M("cspb_metrics", "Metrics", "Métricas"),
    ),
)


def _ext(logical: str, schema: str, entity_set: str, label: Label, plural: Label,
         keys: tuple[tuple[str, tuple[str, ...]], ...], *cols: Col) -> TableSpec:
    return TableSpec(logical, schema, entity_set, label, plural, cols, keys, custom=False)


# cspb_ columns (and alternate keys) the solution adds to standard Dynamics 365 tables. Their
# platform columns come from solution/standard_tables.py, since the platform ships them.
EXTENSIONS: tuple[TableSpec, ...] = (
    _ext("account", "Account", "accounts", ("Account", "Cuenta"), ("Accounts", "Cuentas"), (),
         S("cspb_domain", "Tenant Domain", "Dominio del inquilino", 255),
         B("cspb_portalenabled", "Portal Enabled", "Portal habilitado"),
         S("cspb_taxid", "Tax ID", "NIF / identificación fiscal", 50)),
    _ext("contact", "Contact", "contacts", ("Contact", "Contacto"), ("Contacts", "Contactos"), (),
         P("cspb_portalrole", "Portal Role", "Rol en el portal",
           ((1, "Administrator", "Administrador"), (2, "Subscription Manager", "Administrador de suscripciones"),
            (3, "Finance Manager", "Responsable de finanzas"))),
         S("cspb_portalsubject", "Portal Sign-in Subject", "Sujeto de inicio de sesión del portal", 200),
         S("cspb_portaltenantid", "Portal Sign-in Tenant", "Inquilino de inicio de sesión del portal", 36),
         S("cspb_portalinvitehash", "Portal Invitation Hash", "Hash de la invitación al portal", 64),
         DT("cspb_portalinviteexpires", "Portal Invitation Expires", "Vencimiento de la invitación al portal")),
    _ext("product", "Product", "products", ("Product", "Producto"), ("Products", "Productos"),
         (("cspb_productnumber_key", ("productnumber",)),),
         S("cspb_productfamily", "Product Family", "Familia de productos"),
         S("cspb_productid", "Provider Product ID", "ID de producto del proveedor"),
         S("cspb_skuid", "Provider SKU ID", "ID de SKU del proveedor"),
         B("cspb_portalvisible", "Visible in Portal", "Visible en el portal"),
         S("cspb_billingtype", "Billing Type", "Tipo de facturación", 20),
         P("cspb_taxcategory", "Tax Category", "Categoría fiscal",
           ((1, "Standard", "General"), (2, "Reduced", "Reducido"), (3, "Exempt", "Exento")))),
    _ext("pricelevel", "PriceLevel", "pricelevels", ("Price List", "Lista de precios"),
         ("Price Lists", "Listas de precios"), (("cspb_pricelevelname_key", ("name",)),),
         CURRENCY),
    _ext("productpricelevel", "ProductPriceLevel", "productpricelevels",
         ("Price List Item", "Elemento de lista de precios"), ("Price List Items", "Elementos de lista de precios"),
         (("cspb_pricekey_key", ("cspb_pricekey",)),),
         S("cspb_pricekey", "Price Key", "Clave de precio", 300),
         Mo("cspb_cost", "Provider Cost", "Costo del proveedor"),
         M("cspb_pricetiers", "Volume Tiers", "Niveles por volumen"),
         P("cspb_reviewstatus", "Review Status", "Estado de revisión",
           ((1, "Current", "Vigente"), (2, "Pending Review", "Pendiente de revisión")))),
    _ext("invoice", "Invoice", "invoices", ("Invoice", "Factura"), ("Invoices", "Facturas"),
         (("cspb_invoicekey_key", ("cspb_invoicekey",)),),
         S("cspb_invoicekey", "Invoice Key", "Clave de factura", 300),
         L("cspb_billingcontract", "cspb_billingcontract", "Billing Contract", "Contrato de facturación"),
         DA("cspb_periodstart", "Period Start", "Inicio del periodo"),
         DA("cspb_periodend", "Period End", "Fin del periodo"),
         CURRENCY,
         S("cspb_language", "Language", "Idioma", 5),
         Mo("cspb_amountpaid", "Amount Paid", "Importe pagado"),
         Mo("cspb_balance", "Balance", "Saldo"),
         P("cspb_paymentstatus", "Payment Status", "Estado de pago",
           ((1, "Unpaid", "Sin pagar"), (2, "Partially Paid", "Pagada parcialmente"), (3, "Paid", "Pagada"),
            (4, "Failed", "Error"))),
         S("cspb_sendstatus", "Send Status", "Estado de envío", 400),
         S("cspb_dunningstatus", "Dunning Status", "Estado de reclamación", 400),
         P("cspb_accountingstatus", "Accounting Status", "Estado contable",
           ((1, "Not Synced", "Sin sincronizar"), (2, "Synced", "Sincronizada"), (3, "Failed", "Error"))),
         M("cspb_accountingerror", "Accounting Error", "Error contable"),
         D("cspb_exchangerate", "Exchange Rate", "Tipo de cambio"),
         DA("cspb_issuedate", "Issue Date", "Fecha de emisión")),
    _ext("invoicedetail", "InvoiceDetail", "invoicedetails", ("Invoice Product", "Producto de factura"),
         ("Invoice Products", "Productos de factura"), (("cspb_linekey_key", ("cspb_linekey",)),),
         S("cspb_linekey", "Line Key", "Clave de línea", 300),
         L("cspb_subscription", "cspb_subscription", "Subscription", "Suscripción"),
         L("cspb_licensechangelog", "cspb_licensechangelog", "License Change Log", "Registro de cambios de licencia"),
         P("cspb_linetype", "Line Type", "Tipo de línea",
           ((1, "License", "Licencia"), (2, "Proration", "Prorrateo"), (3, "Credit", "Crédito"),
            (4, "Usage", "Consumo"), (5, "One Time", "Pago único"), (6, "Minimum Commitment", "Compromiso mínimo"))),
         DA("cspb_periodstart", "Period Start", "Inicio del periodo"),
         DA("cspb_periodend", "Period End", "Fin del periodo"),
         D("cspb_taxratepct", "Tax Rate %", "% de impuesto"),
         S("cspb_taxname", "Tax Name", "Nombre del impuesto", 100),
         S("cspb_sourcecurrency", "Priced In", "Moneda de origen", 3),
         D("cspb_exchangerate", "Exchange Rate", "Tipo de cambio"),
         S("cspb_ratemonth", "Rate Month", "Mes del tipo", 7)),
)

ALL: tuple[TableSpec, ...] = TABLES + EXTENSIONS


@dataclass(frozen=True)
class ViewSpec:
    """An extra public system view (querytype 0) on a custom table, next to the generated
    Active / Quick Find / Lookup ones: its rows (fetch conditions, AND-ed with "active"), the
    columns shown after the primary name, and its English and Spanish names."""

    table: str  # logical name
    key: str  # stable part of the savedqueryid
    name: Label
    columns: tuple[str, ...]
    conditions: tuple[tuple[str, str, str], ...]  # (attribute, fetch operator, value)


VIEWS: tuple[ViewSpec, ...] = (
    # Tenants nobody has mapped to a CRM account yet: they block billing until an admin maps them
    # (dataverse.stores.provider_accounts.billing_block_reason names this view).
    ViewSpec("cspb_provideraccount", "unmapped", ("Unmapped Provider Accounts", "Cuentas de proveedor sin asignar"),
             ("cspb_provider", "cspb_externalid", "cspb_domain", "cspb_country", "cspb_lastsyncedon"),
             (("cspb_mappingstatus", "eq", "2"),)),
    # Orders a provider may hold twice or not at all after a lost response (sync/order_once.py): the
    # error column lists the candidate orders; a person adopts one (sets the order id) or re-queues.
    ViewSpec("cspb_licensechangelog", "needsreview", ("Provisioning Needs Review", "Aprovisionamiento por revisar"),
             ("cspb_newquantity", "cspb_senttoprovideron", "cspb_error", "cspb_subscription"),
             (("cspb_provisioningstatus", "eq", "7"),)),
)
