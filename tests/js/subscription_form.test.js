"use strict";
const test = require("node:test");
const assert = require("node:assert");
const path = require("node:path");
const { makeXrm, makeForm, executionContext } = require("./xrm_stub.js");

const FILE = path.join(__dirname, "..", "..", "solution", "src", "WebResources", "cspb_", "subscription_form.js");

function load(languageId = 1033) {
  globalThis.Xrm = makeXrm({ languageId });
  delete require.cache[require.resolve(FILE)];
  return require(FILE).SubscriptionForm;
}

function subscription(quantity, start, end = null, term = "P1Y") {
  return makeForm("66666666-0000-4000-8000-000000000001", {
    cspb_quantity: quantity, cspb_startdate: start, cspb_commitmentenddate: end, cspb_term: term });
}

test("quantity below 1 is blocked before save", () => {
  const Form = load();
  const form = subscription(3, new Date("2026-11-30T00:00:00Z"));
  Form.onLoad(executionContext(form));
  form.getAttribute("cspb_quantity").setValue(0);
  const ctx = executionContext(form);
  assert.strictEqual(Form.onSave(ctx, new Date("2026-12-01T00:00:00Z")), false);
  assert.ok(ctx.args.prevented);
  assert.strictEqual(form.notifications[0].text, "Quantity must be at least 1.");
});

test("a reduction inside 168 hours of the purchase is allowed, outside it is blocked with the reason", () => {
  const Form = load();
  const inside = subscription(10, new Date("2026-11-25T12:00:00Z"));
  Form.onLoad(executionContext(inside));
  inside.getAttribute("cspb_quantity").setValue(8);
  assert.strictEqual(Form.onSave(executionContext(inside), new Date("2026-12-01T12:00:00Z")), true);

  const outside = subscription(10, new Date("2026-11-20T00:00:00Z"));
  Form.onLoad(executionContext(outside));
  outside.getAttribute("cspb_quantity").setValue(8);
  const ctx = executionContext(outside);
  assert.strictEqual(Form.onSave(ctx, new Date("2026-12-01T00:00:00Z")), false);
  assert.ok(ctx.args.prevented);
  assert.match(outside.notifications[0].text, /within 168 hours .* \(2026-11-20\)/);
});

test("the window restarts at renewal, and additions are never blocked", () => {
  const Form = load(3082);
  // Bought 2025-11-28 for a year, renewed 2026-11-28: a reduction on 2026-12-01 is inside the new window.
  const renewed = subscription(10, new Date("2025-11-28T00:00:00Z"), new Date("2027-11-28T00:00:00Z"));
  Form.onLoad(executionContext(renewed));
  renewed.getAttribute("cspb_quantity").setValue(9);
  assert.strictEqual(Form.onSave(executionContext(renewed), new Date("2026-12-01T00:00:00Z")), true);

  const old = subscription(10, new Date("2025-01-01T00:00:00Z"), new Date("2027-01-01T00:00:00Z"));
  Form.onLoad(executionContext(old));
  old.getAttribute("cspb_quantity").setValue(15);
  assert.strictEqual(Form.onSave(executionContext(old), new Date("2026-12-01T00:00:00Z")), true);
  old.getAttribute("cspb_quantity").setValue(9);
  const ctx = executionContext(old);
  assert.strictEqual(Form.onSave(ctx, new Date("2026-12-01T00:00:00Z")), false);
  assert.match(old.notifications[0].text, /^Solo se pueden reducir licencias/);
});
