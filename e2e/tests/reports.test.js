// Reports in the browser: the executive signs in to a dashboard with last
// month's figures and chart, opens last month's report (headlines, five
// charts, a row per workflow), downloads its PDF, and reads it on a phone;
// a reviewer is refused. Operations runs the governance page: incidents,
// changes, and the backlog, where a candidate without a success metric
// cannot start and one with a metric becomes a draft workflow.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BASE_URL, launch, shot, signIn, waitForHydration } from '../support/browser.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';

// Last month in UTC (the demo business's time zone), as YYYY-MM.
const now = new Date();
const lastMonthDate = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
const LAST_MONTH = `${lastMonthDate.getUTCFullYear()}-${String(lastMonthDate.getUTCMonth() + 1).padStart(2, '0')}`;
const LAST_LABEL = lastMonthDate.toLocaleString('en-GB', { month: 'long', year: 'numeric', timeZone: 'UTC' });

let browser;
before(async () => { browser = await launch({ width: 1300, height: 1000 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

// The scorecard job stores last month shortly after the worker starts.
async function waitForSnapshot(page) {
  for (let i = 0; i < 60; i++) {
    const res = await page.request.post(`${BASE_URL}/api/monthly_report`, {
      form: { slug: 'acme-plumbing', month: LAST_MONTH },
      headers: { origin: BASE_URL, accept: 'application/json' },
    });
    if (res.ok() && /^Snapshot/.test((await res.json()).provenance)) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.fail('the monthly job did not store last month');
}

test('the executive reads last month on the dashboard, opens its report and downloads the PDF', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'exec@acme-plumbing.test', DEMO_PASSWORD);
  await waitForSnapshot(page);
  await page.reload();
  await page.waitForSelector('[data-testid=dashboard-kpis]');
  assert.match(await page.textContent('[data-testid=dashboard-kpis] h2'), new RegExp(LAST_LABEL));
  assert.equal(await page.locator('[data-testid=dashboard-kpis] .kpi-tile').count(), 4, 'four headline figures');
  const bars = await page.locator('[data-testid=chart-cost-vs-savings] svg rect').count();
  assert.ok(bars >= 4, `cost and savings bars for the stored months: ${bars}`);
  await shot(page, '40-exec-dashboard');

  // The Reports page opens on the last report sent; its month is in the picker.
  await page.click('nav.sidebar >> text=Reports');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/reports`);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=report-months]');
  await page.click(`[data-testid=month-${LAST_MONTH}]`);
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/reports?month=${LAST_MONTH}`);
  await page.waitForFunction((label) => document.querySelector('[data-testid=report-month]')?.textContent === label, LAST_LABEL);
  assert.match(await page.textContent('[data-testid=report-provenance]'), /^Snapshot 1 of .* by steward \(monthly job\)/);
  assert.equal(await page.locator('[data-testid=kpi-headlines] .kpi-tile').count(), 7);
  const hours = (await page.textContent('[data-testid=kpi-hours_saved] [data-testid=kpi-value]')).trim();
  assert.match(hours, /^\d+\.\d h$/);
  assert.notEqual(hours, '0.0 h');
  assert.match(await page.textContent('[data-testid=kpi-net_savings] .kpi-baseline'), /^labour \$[\d,]+\.\d\d − automation \$[\d,]+\.\d\d$/);
  for (const id of ['cycle-time', 'hours-saved', 'cost-vs-savings', 'exceptions', 'confidence']) {
    assert.equal(await page.locator(`[data-testid=chart-${id}] svg`).count(), 1, `${id} is drawn`);
  }
  assert.ok(await page.locator('[data-testid=chart-hours-saved] svg rect').count() >= 25, 'a bar for nearly every day');
  assert.ok(await page.locator('[data-testid=chart-cycle-time] svg polyline').count() === 1);
  const rows = page.locator('[data-testid=report-row]');
  assert.equal(await rows.count(), 2, 'the lead workflow and the total');
  assert.match(await rows.last().textContent(), /All workflows/);
  assert.equal(await page.locator('[data-testid=baseline-lead-intake-qualification] form, form[data-testid=baseline-lead-intake-qualification]').count(), 0, 'executives read baselines, they do not edit them');
  await shot(page, '41-report-last-month');

  // The PDF is the same report.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=report-pdf]')]);
  assert.equal(download.suggestedFilename(), `steward-scorecard-${LAST_MONTH}.pdf`);
  const pdf = readFileSync(await download.path());
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  assert.ok(pdf.toString('latin1').includes(`(${hours})`), `the PDF says ${hours} saved`);
});

test('on a phone the report fits the screen and its charts keep readable labels', async () => {
  const phone = await launch({ width: 390, height: 844 });
  try {
    const { page, errors } = phone;
    await signIn(page, 'acme-plumbing', 'exec@acme-plumbing.test', DEMO_PASSWORD);
    await page.goto(`${BASE_URL}/t/acme-plumbing/reports?month=${LAST_MONTH}`);
    await waitForHydration(page);
    await page.waitForSelector('[data-testid=chart-exceptions] svg');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `nothing scrolls sideways: ${overflow}px`);
    // Axis labels are drawn at 13 units in a 420-unit chart: at least 10 px on this screen.
    const px = await page.evaluate(() => {
      const svg = document.querySelector('[data-testid=chart-exceptions] svg');
      const text = svg.querySelector('text');
      return text.getBoundingClientRect().height;
    });
    assert.ok(px >= 9, `labels are ${px}px tall`);
    await page.locator('[data-testid=chart-cost-vs-savings]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${process.env.E2E_ARTIFACTS ?? 'artifacts'}/42-report-phone-chart.png` });
    await shot(page, '43-report-phone');
    assert.deepEqual(errors, []);
  } finally {
    await phone.context.close();
  }
});

test('a reviewer is refused the reports and the governance page', async () => {
  const reviewer = await launch();
  try {
    const { page } = reviewer;
    await signIn(page, 'acme-plumbing', 'reviewer@acme-plumbing.test', DEMO_PASSWORD);
    assert.doesNotMatch(await page.textContent('nav.sidebar'), /Reports|Governance/);
    for (const section of ['reports', 'governance']) {
      const res = await page.goto(`${BASE_URL}/t/acme-plumbing/${section}`);
      assert.equal(res.status(), 403, section);
      await page.waitForSelector('[data-testid=refusal]');
    }
    const pdf = await page.request.get(`${BASE_URL}/t/acme-plumbing/reports/${LAST_MONTH}.pdf`);
    assert.equal(pdf.status(), 403);
    await shot(page, '44-reviewer-refused-reports');
  } finally {
    await reviewer.context.close();
  }
});

test('operations reviews the month and starts the backlog candidate that names its success metric', async () => {
  const ops = await launch({ width: 1300, height: 1000 });
  try {
    const { page, errors } = ops;
    await signIn(page, 'acme-plumbing', 'ops@acme-plumbing.test', DEMO_PASSWORD);
    await page.click('nav.sidebar >> text=Governance');
    await page.waitForURL(`${BASE_URL}/t/acme-plumbing/governance`);
    await waitForHydration(page);
    await page.goto(`${BASE_URL}/t/acme-plumbing/governance?month=${LAST_MONTH}`);
    await waitForHydration(page);
    await page.waitForSelector('[data-testid=incident]');
    assert.ok(Number(await page.textContent('[data-testid=gov-failed]')) > 0, 'last month had failed runs');
    assert.ok(Number(await page.textContent('[data-testid=gov-alerts]')) >= 1, 'and the cost alert that came and went');
    assert.ok(await page.locator('[data-testid=month-change]').count() >= 2, 'the alert opening and clearing are in the month\'s changes');

    // The backlog, ranked by value score.
    const names = await page.locator('[data-testid=candidate-name]').allTextContents();
    assert.deepEqual(names.slice(0, 4), ['Support ticket triage', 'Invoice reminders', 'Supplier quote comparison', 'Appointment confirmations']);
    assert.deepEqual((await page.locator('[data-testid=candidate-score]').allTextContents()).slice(0, 4), ['885.65', '764.80', '641.15', '639.75']);
    await shot(page, '45-governance');

    // Without a success metric a candidate cannot start; the reason is next to it.
    const appointments = page.locator('[data-testid=candidate]', { hasText: 'Appointment confirmations' });
    await appointments.locator('[data-testid=start-candidate]').click();
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=candidate]')]
      .find((r) => r.textContent.includes('Appointment confirmations'))?.querySelector('[data-testid=start-error]')?.textContent.includes('postpone'));

    // A bad new candidate is explained field by field.
    await page.fill('#field-candidate-name', 'Warranty claims');
    await page.fill('#field-candidate-volume', 'many');
    await page.click('[data-testid=candidate-form] button[type=submit]');
    await page.waitForFunction(() => /tasks a month/.test(document.querySelector('#field-candidate-volume-error')?.textContent ?? ''));

    // With a metric, it becomes a draft workflow from the gallery.
    const invoices = page.locator('[data-testid=candidate]', { hasText: 'Invoice reminders' });
    await invoices.locator('select').selectOption('invoice-reminder-sequence');
    await invoices.locator('[data-testid=start-candidate]').click();
    await page.waitForSelector('[data-testid=candidate-workflow]');
    assert.equal(await page.textContent('[data-testid=candidate-workflow]'), 'Started: invoice-reminder-sequence');
    await page.click('[data-testid=candidate-workflow]');
    await page.waitForURL(`${BASE_URL}/t/acme-plumbing/workflows/invoice-reminder-sequence`);
    await page.waitForSelector('[data-testid=version-1]');
    assert.match(await page.textContent('[data-testid=version-1]'), /Started from the backlog: Invoice reminders/);
    assert.deepEqual(errors, []);
  } finally {
    await ops.context.close();
  }
});
