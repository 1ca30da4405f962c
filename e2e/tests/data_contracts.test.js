// Operations pastes a broken lead into the lead contract's test box and sees
// every rule it breaks, then a good one and sees it normalised.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BASE_URL, launch, shot, signIn, waitForHydration } from '../support/browser.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';
const fixture = (name) => readFileSync(new URL(`../../engine/tests/fixtures/${name}`, import.meta.url), 'utf8');

let browser;
before(async () => { browser = await launch({ width: 1400, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test('test a record against the lead data contract', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'ops@acme-plumbing.test', DEMO_PASSWORD);
  await page.click('nav.sidebar >> text=Data contracts');
  await page.click('[data-testid=data-contracts] >> text=lead');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/data-contracts/lead`);
  await waitForHydration(page);
  await page.fill('[data-testid=record-json]', fixture('lead.incomplete.json'));
  await page.click('[data-testid=test-record]');
  await page.waitForSelector('[data-testid=verdict] li.issue');
  const issues = await page.textContent('[data-testid=verdict]');
  for (const field of ['companyName', 'primaryContact.email', 'sourceChannel', 'lifecycleStage', 'last_updated']) {
    assert.match(issues, new RegExp(field.replace('.', '\\.')));
  }
  await shot(page, '14-data-contract-broken-record');
  await page.fill('[data-testid=record-json]', fixture('lead.website_form.json'));
  await page.click('[data-testid=test-record]');
  await page.waitForSelector('[data-testid=verdict] pre');
  assert.match(await page.textContent('[data-testid=verdict] pre'), /"sourceChannel": "website"/);
  await page.click('[data-testid=sign-out]');
});
