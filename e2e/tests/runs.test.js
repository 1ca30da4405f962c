// Events in, runs out, in the browser: an engineer creates the lead
// workflow's signing secret (shown once, with a signed curl example), a
// visitor submits the hosted form, and operations watches the run reach a
// final state (or a person's review) on the runs page and opens its timeline.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, launch, shot, signIn, unique, waitForHydration } from '../support/browser.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';
const WF = `${BASE_URL}/t/acme-plumbing/workflows/lead-intake-qualification`;

let browser;
before(async () => { browser = await launch({ width: 1300, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test('the workflow page shows its webhook, creates a signing secret once, and links the hosted form', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'engineer@acme-plumbing.test', DEMO_PASSWORD);
  await page.goto(WF);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=triggers]');
  assert.equal(await page.textContent('[data-testid=webhook-url]'), `${BASE_URL}/hooks/acme-plumbing/lead-intake-qualification`);
  await page.click('[data-testid=rotate-secret]');
  const secret = await (await page.waitForSelector('[data-testid=new-secret]')).textContent();
  assert.match(secret, /^whsec_/);
  await page.click('text=Signed curl example');
  assert.ok((await page.textContent('[data-testid=curl-example]')).includes(secret), 'the example is signed with the new secret');
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE_URL });
  await page.click('[data-testid=copy-curl-example]');
  await page.waitForSelector('[data-testid=copy-curl-example] >> text=Copied');
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.ok(copied.includes('curl -i -X POST') && copied.includes(secret), `the copy button puts the signed example on the clipboard: ${copied}`);
  assert.ok((await page.getAttribute('[data-testid=form-link]', 'href')).endsWith('/forms/acme-plumbing/lead-intake-qualification'));
  await page.locator('[data-testid=triggers]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${process.env.E2E_ARTIFACTS ?? 'artifacts'}/20-workflow-ways-in.png` });
  // Reloaded, the secret is gone for good.
  await page.reload();
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=triggers]');
  assert.equal(await page.locator('[data-testid=new-secret]').count(), 0);
  assert.match(await page.textContent('[data-testid=triggers]'), /A signing secret is set/);
});

test('a visitor submits the hosted form and the run shows up live with its timeline', async () => {
  const { context } = browser;
  const visitor = await context.newPage();
  const company = `Harbor Dental ${unique()}`;
  await visitor.goto(`${BASE_URL}/forms/acme-plumbing/lead-intake-qualification`);
  // A broken email is shown next to its field, and nothing typed is lost.
  await visitor.fill('[name=companyName]', company);
  await visitor.fill('[name="primaryContact.name"]', 'Dana Whitfield');
  await visitor.fill('[name="primaryContact.email"]', 'dana-at-harbordental');
  await visitor.fill('[name=inquiry_text]', 'We run 4 clinics and chase confirmations by phone.');
  assert.equal(await visitor.locator('[name=ownerId]').count(), 0, 'fields the contract fills are not asked');
  await visitor.click('button[type=submit]');
  await visitor.waitForSelector('#f-primaryContact-email-error');
  assert.match(await visitor.textContent('#f-primaryContact-email-error'), /email/);
  assert.equal(await visitor.inputValue('[name=companyName]'), company);
  await shot(visitor, '21-hosted-form-error-next-to-field');
  await visitor.fill('[name="primaryContact.email"]', 'dana@harbordental.example');
  await visitor.click('button[type=submit]');
  await visitor.waitForSelector('text=Thank you');
  await shot(visitor, '22-hosted-form-thanks');
  await visitor.close();

  const page = await context.newPage();
  await signIn(page, 'acme-plumbing', 'ops@acme-plumbing.test', DEMO_PASSWORD);
  await page.click('nav.sidebar >> text=Runs');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/runs`);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=run-row]');
  // Live: the newest run reaches its final state (or waits for a person) without a reload.
  const first = page.locator('[data-testid=run-row]').first();
  await page.waitForFunction(() => {
    const badge = document.querySelector('[data-testid=run-row] [data-testid=run-status]');
    return badge && /completed|waiting for review/.test(badge.textContent);
  }, null, { timeout: 30000 });
  // The run is named by its record, not only its id.
  assert.match(await first.locator('[data-testid=run-title]').textContent(), new RegExp(company));
  await shot(page, '23-runs-list');
  await first.locator('a').first().click();
  await page.waitForSelector('[data-testid=timeline]');
  await waitForHydration(page);
  const steps = await page.locator('[data-testid=timeline-step]').evaluateAll((els) => els.map((e) => e.dataset.step));
  assert.deepEqual(steps.slice(0, 3), ['normalize', 'enrich', 'summarize']);
  assert.match(await page.textContent('[data-testid=source-event]'), new RegExp(company));
  assert.ok(!(await page.textContent('[data-testid=source-event]')).includes('dana@harbordental.example'), 'operations sees the email masked');
  assert.match(await page.textContent('[data-testid=source-event]'), /••••/);
  assert.ok(await page.locator('[data-testid=offline-model]').count() >= 1, 'a draft by the offline model says so');
  await shot(page, '24-run-timeline');

  // The owner, who decides, sees the customer's email in clear on the same run.
  const runUrl = page.url();
  const owner = await launch({ width: 1280, height: 900 });
  try {
    await signIn(owner.page, 'acme-plumbing', 'owner@acme-plumbing.test', DEMO_PASSWORD);
    await owner.page.goto(runUrl);
    await owner.page.waitForSelector('[data-testid=source-event]');
    assert.match(await owner.page.textContent('[data-testid=source-event]'), /dana@harbordental\.example/);
    await shot(owner.page, '25-run-owner-sees-contact');
    assert.deepEqual(owner.errors, []);
  } finally {
    await owner.context.close();
  }

  // The workflow page lists the delivery: accepted through the form.
  await page.goto(WF);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=deliveries]');
  const first_delivery = page.locator('[data-testid=deliveries] tbody tr').first();
  assert.equal(await first_delivery.locator('td[data-label=Channel]').textContent(), 'form');
  assert.match(await first_delivery.locator('td[data-label=Outcome]').textContent(), /accepted 202/);
  await page.click('text=Embed on your site');
  assert.match(await page.textContent('[data-testid=form-snippet]'), /<form[^>]+\/forms\/acme-plumbing\/lead-intake-qualification/);
});

test('operations sees on the Runs page that the workers are taking work, at desk and phone width', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'ops@acme-plumbing.test', DEMO_PASSWORD);
  await page.click('nav.sidebar >> text=Runs');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/runs`);
  await waitForHydration(page);
  const line = await page.waitForSelector('[data-testid=delivery-health]');
  // The worker beat: each queue says how many workers consume it and when they last did.
  await page.waitForFunction(() => /Runs: 1 worker, last active \d+ (s|min) ago/.test(document.querySelector('[data-testid=delivery-calm]')?.textContent ?? ''), null, { timeout: 20000 });
  const calm = await page.textContent('[data-testid=delivery-calm]');
  assert.match(calm, /Email: 1 worker/);
  assert.match(calm, /Scheduled jobs: 1 worker/);
  assert.match(calm, /all email sent|emails waiting/);
  assert.equal(await page.locator('[data-testid=delivery-trouble]').count(), 0, 'nothing is stuck');
  assert.equal(await line.getAttribute('role'), 'status');
  await shot(page, '25-runs-delivery-line');
  const phone = await launch({ width: 390, height: 844 });
  try {
    await signIn(phone.page, 'acme-plumbing', 'ops@acme-plumbing.test', DEMO_PASSWORD);
    await phone.page.goto(`${BASE_URL}/t/acme-plumbing/runs`);
    await phone.page.waitForSelector('[data-testid=delivery-calm]');
    const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the line wraps at phone width (page is ${width} px wide)`);
    await shot(phone.page, '26-runs-delivery-line-phone');
  } finally {
    await phone.context.close();
  }
  await page.click('[data-testid=sign-out]');
});
