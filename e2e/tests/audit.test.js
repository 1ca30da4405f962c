// The audit log in the browser: the owner filters it, verifies the chain
// with a click, and downloads the JSON lines, which hold up when checked
// the way README's offline procedure does (SHA-256 of the previous hash and
// the canonical text, event after event).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BASE_URL, launch, shot, signIn, waitForHydration } from '../support/browser.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';

let browser;
before(async () => { browser = await launch({ width: 1280, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test('the owner reads, verifies and exports the audit log', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'owner@acme-plumbing.test', DEMO_PASSWORD);
  await page.click('nav.sidebar >> text=Audit log');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/changes`);
  await waitForHydration(page);
  await page.selectOption('#filter-area', 'sign-in');
  await page.fill('#filter-actor', 'owner@');
  // The filtered list replaces the whole one (which has sign-ins too): wait until only sign-ins show.
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid=changes] tbody tr')];
    return rows.length > 0 && rows.every((r) => r.textContent.includes('sign-in'));
  });
  const rows = await page.locator('[data-testid=changes] tbody tr').allTextContents();
  assert.ok(rows.every((r) => /sign-in/.test(r)), rows.join('\n'));

  await page.click('[data-testid=verify-chain]');
  await page.waitForSelector('[data-testid=chain-verdict]');
  assert.match(await page.textContent('[data-testid=chain-verdict]'), /The chain holds: all \d+ events/);
  await shot(page, '64-audit-log-verified');

  // The unfiltered export, checked offline.
  await page.selectOption('#filter-area', '');
  await page.fill('#filter-actor', '');
  const [file] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-jsonl]')]);
  const events = readFileSync(await file.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(events.length > 5);
  let previous = '';
  events.forEach((e, n) => {
    assert.equal(e.seq, n + 1);
    assert.equal(e.prev_hash, previous, `event ${e.seq} links to the one before`);
    assert.equal(createHash('sha256').update(e.prev_hash + e.canonical, 'utf8').digest('hex'), e.hash);
    assert.equal(JSON.parse(e.canonical).action, e.action);
    previous = e.hash;
  });
  await page.click('[data-testid=sign-out]');
});
