// An engineer tries the lead prompt on the offline model, then saves a new
// version and moves the staging label to it.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, launch, shot, signIn, waitForHydration } from '../support/browser.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';

let browser;
before(async () => { browser = await launch({ width: 1400, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test('try a prompt with the offline model, save a version and label it staging', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'engineer@acme-plumbing.test', DEMO_PASSWORD);
  await page.click('nav.sidebar >> text=Prompts');
  await page.click('[data-testid=prompts] >> text=lead_summary_v4');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/prompts/lead_summary_v4`);
  await waitForHydration(page);

  await page.fill('[data-testid=try-context]', JSON.stringify({
    normalized_lead: { companyName: 'Harbor Dental', primaryContact: { name: 'Dana' }, inquiry_text: '4 clinics' },
    company_context: 'dental group, 4 sites',
  }, null, 2));
  await page.click('[data-testid=try-run]');
  await page.waitForSelector('[data-testid=try-result]');
  assert.match(await page.textContent('[data-testid=try-result] pre'), /Lead: Harbor Dental \(Dana\)/);
  await page.waitForSelector('[data-testid=schema-ok]');
  assert.match(await page.textContent('[data-testid=try-usage]'), /\d+ tokens in, \d+ tokens out · estimated cost \$0\.00/);
  await shot(page, '15-prompt-try-it');

  const editor = page.locator('[data-testid=prompt-json]');
  await editor.fill((await editor.inputValue()).replace('under 80 words', 'under 60 words'));
  await page.fill('#field-why', 'Shorter summaries read better on phones');
  await page.click('[data-testid=save-prompt]');
  await page.waitForSelector('[data-testid=prompt-version-2]');
  await page.click('[data-testid=staging-2]');
  await page.waitForSelector('[data-testid=prompt-version-2] >> text=staging');
  assert.match(await page.textContent('[data-testid=prompt-version-1]'), /production/);
  await shot(page, '16-prompt-versions-labels');
  await page.click('[data-testid=sign-out]');
});
