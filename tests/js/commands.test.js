"use strict";
const test = require("node:test");
const assert = require("node:assert");
const path = require("node:path");
const { makeXrm, makeForm } = require("./xrm_stub.js");

const WEB = path.join(__dirname, "..", "..", "solution", "src", "WebResources", "cspb_");
const fast = { attempts: 3, delayMs: 1, timer: (fn) => setImmediate(fn) };

function load(Xrm) {
  globalThis.Xrm = Xrm;
  delete require.cache[require.resolve(path.join(WEB, "commands.js"))];
  return require(path.join(WEB, "commands.js"));
}

test("preview charge writes a request row with the form's values and shows the function's answer", async () => {
  const Xrm = makeXrm({
    onCreate: (id, row) => { row.cspb_status = 2; row.cspb_result = JSON.stringify({ message: "next invoice: 42.00 USD" }); },
  });
  const { Commands, ACTION } = load(Xrm);
  const form = makeForm("0A1B2C3D-0000-4000-8000-000000000001", { cspb_quantity: 7, cspb_term: "P1Y" });
  const shown = await Commands.previewCharge(form, fast);
  const [row] = [...Xrm.records.values()];
  assert.strictEqual(row.table, "cspb_actionrequest");
  assert.strictEqual(row.cspb_action, ACTION.previewCharge);
  assert.strictEqual(row.cspb_targetid, "0a1b2c3d-0000-4000-8000-000000000001");
  assert.deepStrictEqual(JSON.parse(row.cspb_parameters), { quantity: 7, term: "P1Y" });
  assert.match(row.cspb_requestkey, /^[0-9a-f]{32}$/);
  assert.strictEqual(shown, "Done: next invoice: 42.00 USD");
  assert.deepStrictEqual(Xrm.shown.alerts, [shown]);
  assert.deepStrictEqual(Xrm.shown.progress.map((p) => p[0]), ["show", "close"]);
});

test("a request still pending after the polls says it is still working, in Spanish for a Spanish user", async () => {
  const Xrm = makeXrm({ languageId: 3082 });
  const { Commands } = load(Xrm);
  const shown = await Commands.retryProvisioning(makeForm("11111111-0000-4000-8000-000000000002", {}), fast);
  assert.match(shown, /^Aún en curso/);
});

test("a failed action shows the reason", async () => {
  const Xrm = makeXrm({ onCreate: (id, row) => { row.cspb_status = 3; row.cspb_result = JSON.stringify({ message: "only a failed change log can be retried" }); } });
  const { Commands } = load(Xrm);
  const shown = await Commands.retryProvisioning(makeForm("22222222-0000-4000-8000-000000000003", {}), fast);
  assert.strictEqual(shown, "Failed: only a failed change log can be retried");
});

test("replay and attest name their tables; no key or secret is in the script", async () => {
  const Xrm = makeXrm({ onCreate: (id, row) => { row.cspb_status = 2; row.cspb_result = "{}"; } });
  const { Commands, ACTION } = load(Xrm);
  await Commands.replayInbox(makeForm("33333333-0000-4000-8000-000000000004", {}), fast);
  await Commands.attestMca(makeForm("44444444-0000-4000-8000-000000000005", {}), fast);
  const rows = [...Xrm.records.values()];
  assert.deepStrictEqual(rows.map((r) => [r.cspb_action, r.cspb_targettable]),
                         [[ACTION.replayInbox, "cspb_inbox"], [ACTION.attestMca, "account"]]);
  const source = require("node:fs").readFileSync(path.join(WEB, "commands.js"), "utf8");
  assert.doesNotMatch(source, /code=|x-functions-key|azurewebsites\.net/i);
});

test("a create that fails is reported, and the progress indicator closes", async () => {
  const Xrm = makeXrm();
  Xrm.WebApi.createRecord = () => Promise.reject(new Error("Principal user is missing prvCreatecspb_actionrequest"));
  const { Commands } = load(Xrm);
  const shown = await Commands.attestMca(makeForm("55555555-0000-4000-8000-000000000006", {}), fast);
  assert.match(shown, /^Could not start the request: Principal user is missing/);
  assert.deepStrictEqual(Xrm.shown.progress.map((p) => p[0]), ["show", "close"]);
});
