// Costs in the browser: operations opens the seeded month's spend chart,
// the cost per run against the plan and the table, exports the CSV, and
// edits the lead workflow's budget (a bad amount is explained next to its
// field); the executive then reads the new budget without a form.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, launch, shot, signIn, signUpBusiness, unique, waitForHydration } from '../support/browser.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';
const FLOW = 'lead-intake-qualification';

let browser;
before(async () => { browser = await launch({ width: 1300, height: 1000 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test('operations reads the month of spend and changes a budget that takes effect', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'ops@acme-plumbing.test', DEMO_PASSWORD);
  await page.click('nav.sidebar >> text=Costs');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/costs`);
  await page.waitForSelector('[data-testid=spend-chart]');
  await waitForHydration(page);
  const bars = await page.locator('[data-testid=spend-chart] [data-testid=spend-bar]').count();
  assert.ok(bars >= 60, `a month of days stacked by kind: ${bars} segments`);
  assert.match(await page.locator('[data-testid=spend-chart] title').first().textContent(), /\d\d-\d\d: .+ \$\d+\.\d+/);
  assert.equal(await page.locator('[data-testid=target-line]').count(), 1, 'the plan is drawn against cost per run');
  // A summary reads in the business's currency, to the cent.
  assert.match(await page.textContent('[data-testid=cost-total]'), /^\$[\d,]+\.\d\d$/);
  assert.doesNotMatch(await page.textContent('[data-testid=cost-total]'), /^\$0\.00$/);
  assert.match(await page.textContent('[data-testid=cache-hit-rate]'), /^\d+%$/);
  assert.ok(await page.locator('[data-testid=top-workflows] rect').count() >= 1);
  await shot(page, '30-costs-month');

  // The table sorts by the column clicked.
  await page.click('[data-testid=sort-1]');
  assert.match(await page.textContent('[data-testid=sort-1]'), /▾/);
  await page.click('[data-testid=sort-1]');
  assert.match(await page.textContent('[data-testid=sort-1]'), /▴/);

  // The CSV is the same table.
  const href = await page.getAttribute('[data-testid=cost-csv]', 'href');
  const csv = await page.request.get(`${BASE_URL}${href}`);
  assert.equal(csv.status(), 200);
  assert.match(await csv.text(), new RegExp(`^workflow,runs,completed_outcomes[^\\n]*\\n${FLOW},\\d+,`));

  // A bad amount is explained next to its field; a good budget is saved and shown.
  const card = page.locator(`[data-testid=budget-${FLOW}]`);
  await page.fill(`#field-target_per_run-${FLOW}`, 'two');
  await card.locator('button[type=submit]').click();
  await page.waitForFunction((id) => /target cost per run/.test(document.querySelector(id)?.textContent ?? ''), `#field-target_per_run-${FLOW}-error`);
  await page.fill(`#field-expected_runs-${FLOW}`, '300');
  await page.fill(`#field-target_per_run-${FLOW}`, '2.50');
  await page.selectOption(`#action-${FLOW}`, 'downgrade');
  await card.locator('button[type=submit]').click();
  await page.waitForSelector('[data-testid=budget-saved]');
  await page.waitForFunction((id) => /300 runs a month at \$2\.50 a run: plan \$750\.00, cap \$825\.00/.test(document.querySelector(id)?.textContent ?? ''),
    `[data-testid=budget-${FLOW}] [data-testid=budget-summary]`);
  await shot(page, '31-costs-budget-saved');
  await page.reload();
  await page.waitForSelector(`[data-testid=budget-${FLOW}]`);
  await waitForHydration(page);
  assert.equal(await page.inputValue(`#field-target_per_run-${FLOW}`), '2.5');
  assert.equal(await page.inputValue(`#action-${FLOW}`), 'downgrade');
  await page.click('[data-testid=sign-out]');
});

test('the owner sets the reviewer hourly rate in Settings; a bad amount is explained', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'owner@acme-plumbing.test', DEMO_PASSWORD);
  await page.goto(`${BASE_URL}/t/acme-plumbing/settings`);
  await page.waitForSelector('[data-testid=cost-rates]');
  await waitForHydration(page);
  assert.equal(await page.inputValue('#field-reviewer_hourly'), '45');
  await page.fill('#field-reviewer_hourly', 'fast');
  await page.click('[data-testid=cost-rates] button[type=submit]');
  await page.waitForFunction(() => /at most six decimals/.test(document.querySelector('#field-reviewer_hourly-error')?.textContent ?? ''));
  await page.fill('#field-reviewer_hourly', '52.50');
  await page.click('[data-testid=cost-rates] button[type=submit]');
  await page.waitForSelector('[data-testid=rates-saved]');
  await shot(page, '33-settings-cost-rates');
  await page.reload();
  await page.waitForSelector('[data-testid=cost-rates]');
  await waitForHydration(page);
  assert.equal(await page.inputValue('#field-reviewer_hourly'), '52.5');
  await page.click('[data-testid=sign-out]');
});

test('the executive reads costs and the budget but has no form, and a reviewer is refused', async () => {
  const exec = await launch({ width: 390, height: 844 });
  try {
    const { page } = exec;
    await signIn(page, 'acme-plumbing', 'exec@acme-plumbing.test', DEMO_PASSWORD);
    await page.goto(`${BASE_URL}/t/acme-plumbing/costs`);
    await page.waitForSelector('[data-testid=spend-chart]');
    assert.match(await page.textContent(`[data-testid=budget-${FLOW}] [data-testid=budget-summary]`), /300 runs a month at \$2\.50 a run/);
    assert.equal(await page.locator('form.budget-form').count(), 0);
    await shot(page, '32-phone-costs-executive');
  } finally {
    await exec.context.close();
  }
  const reviewer = await launch();
  try {
    const { page } = reviewer;
    await signIn(page, 'acme-plumbing', 'reviewer@acme-plumbing.test', DEMO_PASSWORD);
    const res = await page.goto(`${BASE_URL}/t/acme-plumbing/costs`);
    assert.equal(res.status(), 403);
  } finally {
    await reviewer.context.close();
  }
});

test('the owner of a new business keeps its figures in euros', async () => {
  const own = await launch({ width: 1280, height: 900 });
  try {
    const { page } = own;
    const id = unique();
    const slug = await signUpBusiness(page, `Canal Bakery ${id}`, `lena-${id}@canal.example`);
    await page.goto(`${BASE_URL}/t/${slug}/settings`);
    await waitForHydration(page);
    await page.waitForSelector('[data-testid=currency] select');
    assert.equal(await page.inputValue('#field-currency'), 'USD', 'US dollars until the owner chooses');
    await page.selectOption('#field-currency', 'EUR');
    await page.click('[data-testid=save-currency]');
    await page.waitForSelector('[data-testid=currency-saved]');
    await shot(page, '46-currency-chosen');
    await page.goto(`${BASE_URL}/t/${slug}/costs`);
    await waitForHydration(page);
    assert.equal(await page.textContent('[data-testid=cost-total]'), '€0.00');
    await page.reload();
    await waitForHydration(page);
    assert.equal(await page.textContent('[data-testid=cost-total]'), '€0.00', 'kept');
  } finally {
    await own.context.close();
  }
  assert.deepEqual(own.errors, []);
});
