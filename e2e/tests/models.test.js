// The owner adds a model with a key; the key is not shown again.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, launch, shot, signIn, waitForHydration } from '../support/browser.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';

let browser;
before(async () => { browser = await launch({ width: 1280, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test('add a model with a key, see field errors, and the key never comes back', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'owner@acme-plumbing.test', DEMO_PASSWORD);
  await page.click('nav.sidebar >> text=Models');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/models`);
  await waitForHydration(page);
  await page.fill('#field-label', 'GPT-4o mini');
  await page.fill('#field-model', 'gpt-4o-mini');
  await page.fill('#field-input_price', 'cheap');
  await page.fill('#field-output_price', '0.60');
  await page.fill('#field-api_key', 'sk-browser-secret-42');
  await page.click('[data-testid=add-model]');
  await page.waitForFunction(() => /price per million input tokens/.test(document.querySelector('#field-input_price-error')?.textContent ?? ''));
  await page.fill('#field-input_price', '0.15');
  await page.click('[data-testid=add-model]');
  await page.waitForSelector('[data-testid=models] >> text=GPT-4o mini');
  assert.match(await page.textContent('[data-testid=models]'), /stored \(hidden\)/);
  assert.equal(await page.inputValue('#field-api_key'), '');
  assert.doesNotMatch(await page.content(), /sk-browser-secret-42/);
  await shot(page, '18-models');
  await page.click('[data-testid=sign-out]');
});

test('store a secret for api_call steps: wrong names are explained, the value never comes back', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'engineer@acme-plumbing.test', DEMO_PASSWORD);
  await page.goto(`${BASE_URL}/t/acme-plumbing/models`);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=secrets]');
  await page.fill('#field-secret-name', 'Enrichment Key');
  await page.fill('#field-secret-value', 'sk-enrich-browser-7');
  await page.click('[data-testid=save-secret]');
  await page.waitForFunction(() => /lowercase/.test(document.querySelector('#field-name-error, #field-secret-name-error')?.textContent ?? ''));
  await page.fill('#field-secret-name', 'enrichment_key');
  await page.click('[data-testid=save-secret]');
  await page.waitForSelector('[data-testid=secrets] >> text=enrichment_key');
  assert.equal(await page.inputValue('#field-secret-value'), '');
  assert.doesNotMatch(await page.content(), /sk-enrich-browser-7/);
  await page.locator('[data-testid=secrets]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${process.env.E2E_ARTIFACTS ?? 'artifacts'}/25-secrets.png` });
});
