// Downloads and imports in the browser: a workflow bundle, the change log as
// CSV, a bundle pasted back in (refused whole when invalid), a data contract
// template added and saved, and a model tier moved.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BASE_URL, launch, shot, signIn, waitForHydration } from '../support/browser.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';

let browser;
before(async () => { browser = await launch({ width: 1280, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

async function download(page, selector) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  return readFileSync(await file.path(), 'utf8');
}

test('export a bundle, import it back (refused whole when broken), and export the change log', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'engineer@acme-plumbing.test', DEMO_PASSWORD);
  await page.goto(`${BASE_URL}/t/acme-plumbing/workflows/lead-intake-qualification`);
  await waitForHydration(page);
  const bundle = await download(page, '[data-testid=export-bundle]');
  assert.match(bundle, /bundle: steward\/bundle\/v1/);

  await page.goto(`${BASE_URL}/t/acme-plumbing/workflows`);
  await waitForHydration(page);
  await page.fill('[data-testid=bundle-yaml]', bundle.replace('type: rules', 'type: rulez').replace('number_0_to_100', 'percentage'));
  await page.fill('#import-why', 'Restore from git');
  await page.click('[data-testid=import-bundle]');
  await page.waitForSelector('[data-testid=import-errors] li');
  const errors = await page.textContent('[data-testid=import-errors]');
  assert.match(errors, /rulez/);
  assert.match(errors, /percentage/);
  await shot(page, '19-import-refused');

  // Imported under another name, so the other browser tests keep the demo workflow as seeded.
  await page.fill('[data-testid=bundle-yaml]', bundle.replace('workflow: lead-intake-qualification', 'workflow: lead-intake-restored'));
  await page.click('[data-testid=import-bundle]');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/workflows/lead-intake-restored`);
  await page.waitForSelector('[data-testid=version-1]');
  assert.match(await page.textContent('[data-testid=version-1]'), /Restore from git/);

  // The audit log is the owner's (and operations') to read.
  await page.click('[data-testid=sign-out]');
  await signIn(page, 'acme-plumbing', 'owner@acme-plumbing.test', DEMO_PASSWORD);
  await page.goto(`${BASE_URL}/t/acme-plumbing/changes`);
  await waitForHydration(page);
  const csv = await download(page, '[data-testid=export-csv]');
  assert.match(csv.split('\n')[0], /^at,who,area,action,subject,why,detail,seq,prev_hash,hash/);
  assert.match(csv, /Restore from git/);
  await page.click('[data-testid=sign-out]');
});

test('add a data contract from a template, edit it with a reason, and move a model tier', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'owner@acme-plumbing.test', DEMO_PASSWORD);
  await page.goto(`${BASE_URL}/t/acme-plumbing/data-contracts`);
  await waitForHydration(page);
  await page.click('[data-testid=add-invoice]');
  await page.waitForSelector('[data-testid=data-contracts] >> text=invoice');
  await page.click('[data-testid=data-contracts] >> text=invoice');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/data-contracts/invoice`);
  await waitForHydration(page);
  const editor = page.locator('[data-testid=contract-json]');
  await editor.fill((await editor.inputValue()).replace('"max_age_days": 7', '"max_age_days": 3'));
  await page.fill('#field-why', 'Invoices change daily');
  await page.click('[data-testid=save-contract]');
  await page.waitForSelector('text=Saved.');

  await page.goto(`${BASE_URL}/t/acme-plumbing/models`);
  await waitForHydration(page);
  await page.fill('#field-label', 'Local Llama');
  await page.fill('#field-base_url', 'http://127.0.0.1:11434/v1');
  await page.fill('#field-model', 'llama3.1');
  await page.fill('#field-input_price', '0');
  await page.fill('#field-output_price', '0');
  await page.click('[data-testid=add-model]');
  await page.waitForSelector('[data-testid=models] >> text=Local Llama');
  // The premium tier: the prompt test runs the small tier on the offline model.
  await page.selectOption('[data-testid=tier-premium]', { label: 'Local Llama' });
  await page.waitForFunction(() => /Local Llama[\s\S]*premium/.test(document.querySelector('[data-testid=models]')?.textContent ?? ''));
  await page.goto(`${BASE_URL}/t/acme-plumbing/changes`);
  await page.waitForSelector('[data-testid=changes] >> text=premium tier now uses Local Llama');
  assert.match(await page.textContent('[data-testid=changes]'), /Invoices change daily/);
  await page.click('[data-testid=sign-out]');
});
