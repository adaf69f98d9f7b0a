// Client-side rules on the subscription form, checked before save. The server-side rules (billing/ and the
// provisioning worker) stay the authority; this only tells the rep early, with the reason.
(function (root) {
  "use strict";

  var WINDOW_HOURS = 168; // new-commerce: reductions and cancellations within 7 days of purchase or renewal
  var TERM_MONTHS = { P1M: 1, P1Y: 12, P3Y: 36 };
  var TEXT = {
    en: { min: "Quantity must be at least 1.",
          window: "Seats can only be reduced within 168 hours (7 days) of the purchase or the last renewal ({start}). Seats added in the last 7 days can still be removed: use Preview charge to check, or reduce at renewal." },
    es: { min: "La cantidad debe ser al menos 1.",
          window: "Solo se pueden reducir licencias en las 168 horas (7 días) siguientes a la compra o a la última renovación ({start}). Las licencias añadidas en los últimos 7 días aún se pueden quitar: use Vista previa del cargo para comprobarlo, o reduzca en la renovación." }
  };
  var initialQuantity = null;

  function language(Xrm) { return Xrm.Utility.getGlobalContext().userSettings.languageId === 3082 ? "es" : "en"; }

  function termStart(formContext) {
    var start = formContext.getAttribute("cspb_startdate").getValue();
    var end = formContext.getAttribute("cspb_commitmentenddate").getValue();
    var term = formContext.getAttribute("cspb_term").getValue();
    if (end && TERM_MONTHS[term]) {
      var renewed = new Date(end.getTime());
      renewed.setUTCMonth(renewed.getUTCMonth() - TERM_MONTHS[term]);
      if (!start || renewed > start) { return renewed; }
    }
    return start;
  }

  function check(formContext, now) {
    var t = TEXT[language(root.Xrm)];
    var quantity = formContext.getAttribute("cspb_quantity").getValue();
    if (quantity === null || quantity < 1) { return t.min; }
    if (initialQuantity !== null && quantity < initialQuantity) {
      var start = termStart(formContext);
      if (start && (now - start) / 36e5 > WINDOW_HOURS) {
        return t.window.replace("{start}", start.toISOString().slice(0, 10));
      }
    }
    return null;
  }

  var Form = {
    onLoad: function (executionContext) {
      initialQuantity = executionContext.getFormContext().getAttribute("cspb_quantity").getValue();
    },
    onSave: function (executionContext, now) {
      var formContext = executionContext.getFormContext();
      var problem = check(formContext, now || new Date());
      formContext.ui.clearFormNotification("cspb_rules");
      if (problem) {
        formContext.ui.setFormNotification(problem, "ERROR", "cspb_rules");
        executionContext.getEventArgs().preventDefault();
        return false;
      }
      return true;
    }
  };

  root.CSPBridge = root.CSPBridge || {};
  root.CSPBridge.SubscriptionForm = Form;
  if (typeof module !== "undefined" && module.exports) { module.exports = { SubscriptionForm: Form }; }
})(typeof window !== "undefined" ? window : globalThis);
