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
