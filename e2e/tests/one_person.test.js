// A business of one installs a workflow that needs a second approver: the
// gallery card says so before install, the author never sees an Approve
// button, the refusal offers to invite a second approver or declare a
// one-person business, and once declared the owner publishes on their own
// word with a reason. Also: the page's own files come content-hashed,
// cached for a year and compressed.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, launch, shot, signUpBusiness, unique, waitForHydration } from '../support/browser.js';

let browser;
before(async () => { browser = await launch({ width: 1280, height: 800 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test('a one-person business publishes a four-eyes workflow after declaring itself, with a reason', async () => {
  const { page } = browser;
  const id = unique();
  const bundle = [];
  page.on('response', (r) => { if (new URL(r.url()).pathname.startsWith('/pkg/')) bundle.push(r); });
  const slug = await signUpBusiness(page, `Solo Books ${id}`, `sam-${id}@solo.example`);

  // The bundle: hashed names, a year of caching, compressed on the wire.
  const wasm = bundle.find((r) => r.url().endsWith('.wasm'));
  assert.ok(wasm, 'the page loaded its wasm');
  assert.match(new URL(wasm.url()).pathname, /^\/pkg\/app\.[0-9a-f]{16}\.wasm$/);
  const headers = await wasm.allHeaders();
  assert.equal(headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.match(headers['content-encoding'] ?? '', /^(br|gzip)$/);
  const css = bundle.find((r) => r.url().endsWith('.css'));
  assert.match(new URL(css.url()).pathname, /^\/pkg\/steward\.[0-9a-f]{16}\.css$/);

  // Empty pages say what will appear there and where it comes from.
  await page.goto(`${BASE_URL}/t/${slug}/prompts`);
  await waitForHydration(page);
  assert.match(await page.getAttribute('[data-testid=prompts-empty] a', 'href'), /\/workflows\/gallery$/);
  await page.goto(`${BASE_URL}/t/${slug}/data-contracts`);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=data-contracts-empty]');
  assert.equal(await page.locator('[data-testid=data-contracts]').isVisible(), false, 'no empty table');

  await page.goto(`${BASE_URL}/t/${slug}/workflows/gallery`);
  await waitForHydration(page);
  const card = page.locator('[data-testid=gallery-invoice-reminder-sequence]');
  assert.match(await card.locator('[data-testid=second-approver-invoice-reminder-sequence]').textContent(), /Needs a second approver/);
  assert.equal(await page.locator('[data-testid=second-approver-support-ticket-triage]').count(), 0);
  await shot(page, '60-gallery-says-second-approver');
  await Promise.all([
    page.waitForURL(`${BASE_URL}/t/${slug}/workflows/invoice-reminder-sequence`),
    page.click('[data-testid=install-invoice-reminder-sequence]'),
  ]);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=version-1]');
  assert.equal(await page.locator('[data-testid=approve-1]').count(), 0, 'the author gets no Approve button');

  // Publishing is refused with the way forward inline.
  await page.click('[data-testid=publish-1]');
  await page.waitForSelector('[data-testid=second-approver-help]');
  assert.match(await page.getAttribute('[data-testid=invite-second-approver]', 'href'), /\/settings#invite$/);
  await shot(page, '61-refusal-offers-a-second-approver');
  await Promise.all([
    page.waitForURL(`${BASE_URL}/t/${slug}/settings#one-person`),
    page.click('[data-testid=declare-one-person-link]'),
  ]);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=declare-one-person]');
  await page.click('[data-testid=declare-one-person]');
  await page.waitForSelector('[data-testid=one-person] .field-error:text("Say why")');
  await page.fill('#f-one-person-reason', 'I run the business alone');
  await page.click('[data-testid=declare-one-person]');
  await page.waitForSelector('[data-testid=one-person-declared]');
  assert.match(await page.textContent('[data-testid=one-person-declared]'), /I run the business alone/);
  await shot(page, '62-one-person-declared');

  // Now publishing asks for an explicit confirmation and a reason.
  await page.goto(`${BASE_URL}/t/${slug}/workflows/invoice-reminder-sequence`);
  await waitForHydration(page);
  await page.click('[data-testid=publish-1]');
  await page.waitForSelector('[data-testid=confirm-solo]');
  await page.fill('#f-solo-reason', 'I read every reminder it sends');
  await shot(page, '63-confirm-without-second-approver');
  await page.click('[data-testid=publish-solo]');
  await page.waitForSelector('[data-testid=version-1] .badge.live');
  await page.goto(`${BASE_URL}/t/${slug}/changes`);
  await waitForHydration(page);
  await page.waitForSelector('text=without a second approver (one-person business): I read every reminder it sends');
  await page.waitForSelector('text=I run the business alone');
});
