// A small stand-in for the Xrm client API, enough for CSPBridge's web resources: a record store behind
// Xrm.WebApi, dialogs and progress indicators that record what the user would see, and form contexts.
"use strict";

function makeXrm({ languageId = 1033, onCreate = () => {} } = {}) {
  const records = new Map();
  const shown = { alerts: [], progress: [] };
  let nextId = 1;
  const Xrm = {
    records, shown,
    Utility: {
      getGlobalContext: () => ({ userSettings: { languageId } }),
      showProgressIndicator: (text) => shown.progress.push(["show", text]),
      closeProgressIndicator: () => shown.progress.push(["close"]),
    },
    Navigation: {
      openAlertDialog: ({ text }) => { shown.alerts.push(text); return Promise.resolve(); },
    },
    WebApi: {
      createRecord: (table, body) => {
        const id = `00000000-0000-4000-8000-${String(nextId++).padStart(12, "0")}`;
        records.set(id, { table, ...body });
        onCreate(id, records.get(id), records);
        return Promise.resolve({ entityType: table, id });
      },
      retrieveRecord: (table, id) => {
        const row = records.get(id);
        return row ? Promise.resolve({ ...row }) : Promise.reject(new Error(`no ${table} ${id}`));
      },
    },
  };
  return Xrm;
}

function makeForm(id, values) {
  const notifications = [];
  const attributes = Object.fromEntries(Object.entries(values).map(([name, value]) => [name, {
    getValue: () => attributes[name].value, setValue: (v) => { attributes[name].value = v; }, value,
  }]));
  const formContext = {
    data: { entity: { getId: () => `{${id.toUpperCase()}}` } },
    getAttribute: (name) => attributes[name] || null,
    ui: {
      setFormNotification: (text, level, key) => notifications.push({ text, level, key }),
      clearFormNotification: (key) => { for (let i = notifications.length - 1; i >= 0; i--) if (notifications[i].key === key) notifications.splice(i, 1); },
    },
    notifications,
  };
  return formContext;
}

function executionContext(formContext) {
  const args = { prevented: false, preventDefault() { this.prevented = true; } };
  return { getFormContext: () => formContext, getEventArgs: () => args, args };
}

module.exports = { makeXrm, makeForm, executionContext };
