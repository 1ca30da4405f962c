// A Stripe-style trigger from its page: an engineer gives a workflow the
// Stripe signature scheme, reads on its page what to set in Stripe, pastes
// Stripe's signing secret, and after a signed test delivery (and then a
// wrongly signed one) sees each delivery's verdict with "Check the last
// delivery" — without reading any log.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'playwright-core';
import { BASE_URL, launch, shot, signIn, waitForHydration, unique } from '../support/browser.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';

let browser;
before(async () => { browser = await launch({ width: 1280, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test('an engineer sets up a Stripe trigger from its page and sees a test delivery accepted and mapped, then a bad one refused', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'engineer@acme-plumbing.test', DEMO_PASSWORD);
  const name = `stripe-invoices-${unique()}`;
  const yaml = `workflow: ${name}
version: 1
trigger: { source: webhook, event: invoice.payment_failed }
steps:
  - { id: normalize, type: function, function: normalize, output: normalized_invoice }
`;
  const call = (endpoint, form) => page.request.post(`${BASE_URL}/api/${endpoint}`, {
    form, headers: { origin: BASE_URL, accept: 'application/json' },
  });
  // The invoice data contract checks what the preset makes (already there when another test added it).
  const added = await call('add_data_contract_template', { slug: 'acme-plumbing', object: 'invoice' });
  assert.ok([200, 409].includes(added.status()), await added.text());
  const saved = await call('save_workflow', { slug: 'acme-plumbing', yaml, note: 'Stripe failed payments' });
  assert.equal(saved.status(), 200, await saved.text());
  const published = await call('publish_workflow_version', { slug: 'acme-plumbing', name, number: '1' });
  assert.equal(published.status(), 200, await published.text());

  await page.goto(`${BASE_URL}/t/acme-plumbing/workflows/${name}`);
  await page.waitForSelector('[data-testid=triggers]');
  await waitForHydration(page);
  assert.equal(await page.textContent('[data-testid=signature-scheme]'), 'standard_webhooks');

  // No YAML: pick Stripe's event, which brings Stripe's way of signing, save and publish.
  await page.selectOption('#f-preset', 'stripe-invoice-payment-failed');
  assert.equal(await page.inputValue('#f-scheme'), 'stripe');
  await page.click('[data-testid=save-trigger]');
  await page.waitForSelector('[data-testid=trigger-saved]');
  assert.match(await page.textContent('[data-testid=trigger-saved]'), /version 2, a draft/);
  // Publishing reloads the page, whose versions and contract change with it.
  await Promise.all([page.waitForEvent('load'), page.click('[data-testid=publish-trigger]')]);
  await waitForHydration(page);
  await page.waitForFunction(() => document.querySelector('[data-testid=signature-scheme]')?.textContent === 'stripe');
  assert.match(await page.textContent('[data-testid=mapping-preset]'), /Stripe — invoice payment failed/);
  assert.match(await page.textContent('[data-testid=mapping]'), /data\.object\.customer_email/);
  // One row of the preset replaced on the page: this business counts reminders itself.
  await page.click('[data-testid=mapping] tr:has(code:text-is("reminders_sent")) [data-testid=edit-mapping-row]');
  assert.equal(await page.inputValue('#f-map-field'), 'reminders_sent');
  await page.fill('#f-map-expression', 'created |');
  await page.click('[data-testid=save-mapping-row]');
  await page.waitForFunction(() => /does not read/.test(document.querySelector('[data-testid=mapping-row] .has-error .field-error')?.textContent ?? ''));
  assert.ok(await page.$('[data-testid=mapping-row] .field.has-error:has(#f-map-expression)'), 'the error is beside the expression');
  await page.fill('#f-map-expression', '0');
  await page.click('[data-testid=save-mapping-row]');
  await page.waitForFunction(() => /version 3, a draft/.test(document.querySelector('[data-testid=trigger-saved]')?.textContent ?? ''));
  await Promise.all([page.waitForEvent('load'), page.click('[data-testid=publish-trigger]')]);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=mapping] .badge');
  assert.match(await page.textContent('[data-testid=mapping] tr:has(code:text-is("reminders_sent"))'), /this trigger's own/);
  assert.match(await page.textContent('[data-testid=sender-instructions]'), /Developers → Webhooks → Add endpoint/);
  const url = (await page.textContent('[data-testid=webhook-url]')).trim();
  await shot(page, '62-stripe-trigger-set-up');
  // The workflow's own API document, from its link: Stripe's payload and the invoice record's schema.
  const doc = await (await page.request.get(new URL(await page.getAttribute('[data-testid=workflow-openapi]', 'href'), BASE_URL).href)).json();
  assert.equal(doc.components.schemas.Record.title, 'invoice');
  assert.match(JSON.stringify(doc.paths), /stripe-invoice-payment-failed/);

  // Stripe shows its own secret; it is pasted here (a short one is refused with the reason).
  await page.fill('#f-paste-secret', 'whsec_short');
  await page.click('[data-testid=paste-secret] button[type=submit]');
  await page.waitForFunction(() => /16 to 512/.test(document.querySelector('[data-testid=paste-secret] .field-error')?.textContent ?? ''));
  const secret = `whsec_${unique()}${unique()}stripe`;
  await page.fill('#f-paste-secret', secret);
  await page.click('[data-testid=paste-secret] button[type=submit]');
  await page.waitForSelector('[data-testid=secret-pasted]');

  // Stripe's own sample event (from its documentation), sent now and signed Stripe's way.
  const sample = JSON.parse(readFileSync(new URL('../../engine/src/mapping_presets/stripe-invoice-payment-failed.json', import.meta.url)));
  const send = async (key) => {
    const body = JSON.stringify({ ...sample, id: `evt_${unique()}`, created: Math.floor(Date.now() / 1000) });
    const t = Math.floor(Date.now() / 1000);
    const v1 = createHmac('sha256', key).update(`${t}.${body}`).digest('hex');
    const sender = await request.newContext();
    const res = await sender.post(url, { headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${v1}` }, data: body });
    const status = res.status();
    await sender.dispose();
    return status;
  };
  assert.equal(await send(secret), 202);
  await page.click('[data-testid=check-delivery]');
  await page.waitForFunction(() => /accepted/.test(document.querySelector('[data-testid=last-verdict]')?.textContent ?? ''));
  await shot(page, '63-stripe-trigger-accepted');

  assert.equal(await send('whsec_not_the_one_stripe_shows'), 401);
  await page.click('[data-testid=check-delivery]');
  await page.waitForFunction(() => /refused, unauthorized — the stripe signature does not match/.test(document.querySelector('[data-testid=last-verdict]')?.textContent ?? ''));
  await shot(page, '64-stripe-trigger-refused');

  // The accepted delivery's run: Stripe's invoice became Steward's invoice record.
  await page.click('[data-testid=deliveries] td[data-label=Run] a');
  await page.waitForSelector('[data-testid=timeline]');
  for (let i = 0; i < 40 && !(await page.$('[data-testid=step-output]')); i++) {
    await page.waitForTimeout(250);
    await page.reload();
  }
  const output = await page.textContent('[data-testid=step-output]');
  assert.match(output, /8F8D4B7F-0001/);
  assert.match(output, /jenny\.rosen@example\.com/);
  assert.match(output, /"USD"/);
  assert.match(output, /"reminders_sent":\s*0\b/, 'the row set on the page, not Stripe\'s attempt count');
});
