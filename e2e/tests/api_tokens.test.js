// API tokens in the browser: the owner goes from Settings to API tokens,
// makes a token that may send events, sees it once, and a program uses it
// (no Origin, no cookie) to send an event; the list then says when and from
// where it was used; after Revoke the same call gets 401. An engineer sees
// the page too, but only their own tokens, and no scope their role lacks.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'playwright-core';
import { BASE_URL, launch, shot, signIn, waitForHydration, unique } from '../support/browser.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';
const FLOW = 'lead-intake-qualification';
const lead = () => ({
  companyName: 'Token Dental', primaryContact: { name: 'Ada Token', email: `ada-${unique()}@tokendental.example` },
  sourceChannel: 'website', lifecycleStage: 'lead', inquiry_text: 'Three chairs, two locations.',
  last_updated: new Date().toISOString(),
});

let browser;
before(async () => { browser = await launch({ width: 1280, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test('the owner makes a token, a program sends an event with it, and a revoked token is refused', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'owner@acme-plumbing.test', DEMO_PASSWORD);
  await page.goto(`${BASE_URL}/t/acme-plumbing/settings`);
  await waitForHydration(page);
  await page.click('[data-testid=api-tokens-link]');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/tokens`);
  await page.waitForSelector('[data-testid=make-token]');
  await waitForHydration(page);

  // Nothing chosen: the reason is next to the choices.
  const name = `Zapier ${unique()}`;
  await page.fill('#field-name', name);
  await page.click('[data-testid=make-token] button[type=submit]');
  await page.waitForFunction(() => /at least one/.test(document.querySelector('#field-scopes-error')?.textContent ?? ''));

  await page.check('[data-testid=scope-send_events]');
  await page.check('[data-testid=scope-read_runs]');
  await page.selectOption('#field-expires', '30');
  await page.click('[data-testid=make-token] button[type=submit]');
  await page.waitForSelector('[data-testid=new-token]');
  const token = (await page.textContent('[data-testid=new-token]')).trim();
  assert.match(token, /^stw_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
  await shot(page, '60-api-token-made');

  // A program: no browser, no cookie, no Origin.
  const program = await request.newContext();
  const sent = await program.post(`${BASE_URL}/api/v1/t/acme-plumbing/workflows/${FLOW}/events`, {
    headers: { authorization: `Bearer ${token}` }, data: lead(),
  });
  assert.equal(sent.status(), 202, await sent.text());
  const { run_id: runId } = await sent.json();
  const status = await program.get(`${BASE_URL}/api/v1/t/acme-plumbing/runs/${runId}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(status.status(), 200);

  // The secret is not shown again; the list says it was used, and from where.
  await page.reload();
  await page.waitForSelector('[data-testid=token-row]');
  await waitForHydration(page);
  assert.equal(await page.locator('[data-testid=new-token]').count(), 0);
  const row = page.locator('[data-testid=token-row]', { hasText: name });
  assert.match(await row.locator('[data-testid=token-last-used]').textContent(), /UTC from 127\.0\.0\.1/);
  assert.doesNotMatch(await page.content(), new RegExp(token.slice(13)));
  await shot(page, '61-api-tokens-listed');

  // Revoke takes a second click, and works at once.
  await row.locator('[data-testid=revoke-token]').click();
  await row.locator('[data-testid=revoke-token]', { hasText: 'Confirm revoke' }).click();
  await page.waitForFunction((n) => [...document.querySelectorAll('[data-testid=token-row]')]
    .some((r) => r.textContent.includes(n) && r.querySelector('[data-testid=token-state]')?.textContent === 'revoked'), name);
  const refused = await program.post(`${BASE_URL}/api/v1/t/acme-plumbing/workflows/${FLOW}/events`, {
    headers: { authorization: `Bearer ${token}` }, data: lead(),
  });
  assert.equal(refused.status(), 401);
  assert.match((await refused.json()).message, /revoked/);
  await program.dispose();

  // The change log has both.
  await page.goto(`${BASE_URL}/t/acme-plumbing/changes`);
  await page.waitForSelector('text=token.revoked');
  assert.ok(await page.locator('text=token.created').count() >= 1);
});

test('an engineer sees only their own tokens and no scope their role lacks', async () => {
  const { page } = browser;
  await page.context().clearCookies();
  await signIn(page, 'acme-plumbing', 'engineer@acme-plumbing.test', DEMO_PASSWORD);
  await page.click('nav.sidebar >> text=API tokens');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/tokens`);
  await page.waitForSelector('[data-testid=make-token]');
  assert.equal(await page.locator('[data-testid=scope-decide_reviews]').count(), 0, 'engineers do not decide reviews');
  assert.equal(await page.locator('[data-testid=scope-send_events]').count(), 1);
  assert.equal(await page.locator('[data-testid=token-row]').count(), 0, "the owner's token is not the engineer's to see");
  assert.match(await page.textContent('[data-testid=no-tokens]'), /You have no API tokens yet/);
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, '62-api-tokens-engineer-phone');
  await page.setViewportSize({ width: 1280, height: 900 });
});
