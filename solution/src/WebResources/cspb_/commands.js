// CSPBridge command-bar actions (classic commands; see solution/commands.py).
// A command writes a cspb_actionrequest row through Xrm.WebApi; the row's Create fires the webhook step, the
// Function App does the work and writes cspb_status / cspb_result back. No key or secret is in this file.
(function (root) {
  "use strict";

  var ACTION = { previewCharge: 1, retryProvisioning: 2, replayInbox: 3, attestMca: 4 };
  var STATUS = { pending: 1, done: 2, failed: 3 };
  var TEXT = {
    en: { working: "Working on it...", still: "Still working: the result will appear on this request in Operations > Action Requests.",
          failed: "Could not start the request: ", done: "Done", error: "Failed" },
    es: { working: "Procesando...", still: "Aún en curso: el resultado aparecerá en Operaciones > Solicitudes de acción.",
          failed: "No se pudo iniciar la solicitud: ", done: "Hecho", error: "Error" }
  };

  function language(Xrm) {
    var lcid = Xrm.Utility.getGlobalContext().userSettings.languageId;
    return lcid === 3082 ? "es" : "en";
  }

  function recordId(formContext) {
    return formContext.data.entity.getId().replace(/[{}]/g, "").toLowerCase();
  }

  function newKey() {
    // Client-generated key: a retried create cannot make a second request (alternate key cspb_requestkey).
    var hex = "";
    for (var i = 0; i < 32; i++) { hex += Math.floor(Math.random() * 16).toString(16); }
    return hex;
  }

  function sleep(ms, timer) { return new Promise(function (resolve) { (timer || setTimeout)(resolve, ms); }); }

  function poll(Xrm, id, options) {
    var attempts = options.attempts, delay = options.delayMs;
    function once(left) {
      return Xrm.WebApi.retrieveRecord("cspb_actionrequest", id, "?$select=cspb_status,cspb_result").then(function (row) {
        if (row.cspb_status !== STATUS.pending || left <= 1) { return row; }
        return sleep(delay, options.timer).then(function () { return once(left - 1); });
      });
    }
    return once(attempts);
  }

  function message(row, t) {
    if (row.cspb_status === STATUS.pending) { return t.still; }
    var result = {};
    try { result = JSON.parse(row.cspb_result || "{}"); } catch (e) { result = { message: row.cspb_result }; }
    var prefix = row.cspb_status === STATUS.done ? t.done : t.error;
    return prefix + ": " + (result.message || "");
  }

  function request(Xrm, action, table, targetId, parameters, options) {
    options = options || {};
    var t = TEXT[language(Xrm)];
    var body = {
      cspb_name: action + " " + table + " " + targetId,
      cspb_requestkey: newKey(),
      cspb_action: ACTION[action],
      cspb_targettable: table,
      cspb_targetid: targetId,
      cspb_parameters: JSON.stringify(parameters || {}),
      cspb_status: STATUS.pending
    };
    Xrm.Utility.showProgressIndicator(t.working);
    return Xrm.WebApi.createRecord("cspb_actionrequest", body).then(function (created) {
      return poll(Xrm, created.id, { attempts: options.attempts || 20, delayMs: options.delayMs || 1500, timer: options.timer });
    }).then(function (row) {
      Xrm.Utility.closeProgressIndicator();
      var text = message(row, t);
      return Xrm.Navigation.openAlertDialog({ text: text }).then(function () { return text; });
    }, function (error) {
      Xrm.Utility.closeProgressIndicator();
      var text = t.failed + (error && error.message ? error.message : String(error));
      return Xrm.Navigation.openAlertDialog({ text: text }).then(function () { return text; });
    });
  }

  var Commands = {
    previewCharge: function (formContext, options) {
      var quantity = formContext.getAttribute("cspb_quantity").getValue();
      var term = formContext.getAttribute("cspb_term") ? formContext.getAttribute("cspb_term").getValue() : null;
      return request(root.Xrm, "previewCharge", "cspb_subscription", recordId(formContext),
                     { quantity: quantity, term: term }, options);
    },
    retryProvisioning: function (formContext, options) {
      return request(root.Xrm, "retryProvisioning", "cspb_licensechangelog", recordId(formContext), {}, options);
    },
    replayInbox: function (formContext, options) {
      return request(root.Xrm, "replayInbox", "cspb_inbox", recordId(formContext), {}, options);
    },
    attestMca: function (formContext, options) {
      return request(root.Xrm, "attestMca", "account", recordId(formContext), {}, options);
    }
  };

  root.CSPBridge = root.CSPBridge || {};
  root.CSPBridge.Commands = Commands;
  if (typeof module !== "undefined" && module.exports) { module.exports = { Commands: Commands, ACTION: ACTION, STATUS: STATUS }; }
})(typeof window !== "undefined" ? window : globalThis);
