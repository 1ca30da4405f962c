// The owner tests a provider connection and adds a model with a key; the
// key is not shown again. The provider is an HTTP fake of an
// OpenAI-compatible models endpoint (an outside paid service).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { BASE_URL, launch, shot, signIn, waitForHydration } from '../support/browser.js';

const FAKE_PORT = Number(process.env.FAKE_OPENAI_PORT ?? 0);
const GOOD_KEY = 'sk-browser-secret-42';
let fake;
before(async () => {
  if (!FAKE_PORT) return;
  fake = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.method !== 'GET' || req.url !== '/v1/models') { res.statusCode = 404; return res.end('{}'); }
    if (req.headers.authorization !== `Bearer ${GOOD_KEY}`) {
      res.statusCode = 401;
      return res.end(JSON.stringify({ error: { message: 'Incorrect API key provided.', type: 'invalid_request_error' } }));
    }
    res.end(JSON.stringify({ object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model' }, { id: 'gpt-4o', object: 'model' }] }));
  });
  await new Promise((resolve) => fake.listen(FAKE_PORT, '127.0.0.1', resolve));
});
after(() => fake?.close());

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';

let browser;
before(async () => { browser = await launch({ width: 1280, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test('test a provider connection, add a model with a key, see field errors, and the key never comes back', { skip: !FAKE_PORT && 'FAKE_OPENAI_PORT is not set' }, async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'owner@acme-plumbing.test', DEMO_PASSWORD);
  await page.click('nav.sidebar >> text=Models');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/models`);
  await waitForHydration(page);
  assert.match(await page.textContent('[data-testid=offline-explained]'), /sample drafts.*no cost/);
  await page.fill('#field-label', 'GPT-4o mini');
  await page.fill('#field-base_url', `http://127.0.0.1:${FAKE_PORT}/v1`);
  await page.fill('#field-model', 'gpt-4o-mini');
  await page.fill('#field-input_price', 'cheap');
  await page.fill('#field-output_price', '0.60');
  // A wrong key: the provider's own words come back.
  await page.fill('#field-api_key', 'sk-wrong-key');
  await page.click('[data-testid=test-connection]');
  await page.waitForSelector('[data-testid=connection-result] >> text=Incorrect API key provided');
  assert.match(await page.textContent('[data-testid=connection-result]'), /401/);
  await page.fill('#field-api_key', GOOD_KEY);
  await page.click('[data-testid=test-connection]');
  await page.waitForSelector('[data-testid=connection-result] >> text=Connected');
  assert.match(await page.textContent('[data-testid=connection-result]'), /offers gpt-4o-mini/);
  await shot(page, '17-models-connection-tested');
  await page.click('[data-testid=add-model]');
  await page.waitForFunction(() => /price per million input tokens/.test(document.querySelector('#field-input_price-error')?.textContent ?? ''));
  await page.fill('#field-input_price', '0.15');
  await page.click('[data-testid=add-model]');
  await page.waitForSelector('[data-testid=models] >> text=GPT-4o mini');
  assert.match(await page.textContent('[data-testid=model-saved]'), /Saved GPT-4o mini/);
  assert.match(await page.textContent('[data-testid=models]'), /stored \(hidden\)/);
  assert.match(await page.textContent('[data-testid=models]'), /OpenAI-compatible/);
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
