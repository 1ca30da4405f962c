// Leaving Steward in the browser: a new owner downloads everything the
// business owns, is told what to type when the confirmation is wrong,
// deletes the business, and lands on the front page with its notice; the
// business's sign-in page then knows it no more.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BASE_URL, finishSignUp, launch, shot, unique, waitForHydration } from '../support/browser.js';

let browser;
before(async () => { browser = await launch({ width: 1280, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test('an owner exports everything and deletes the business', async () => {
  const { page } = browser;
  const id = unique();
  const slug = `closing-shop-${id}`;
  await page.goto(`${BASE_URL}/signup`);
  await waitForHydration(page);
  await page.fill('#field-business_name', `Closing Shop ${id}`);
  await page.fill('#field-email', `last-${id}@closing.example`);
  await page.fill('#field-password', 'copper kettle harbor 42');
  await finishSignUp(page, `last-${id}@closing.example`, `${BASE_URL}/t/${slug}`);

  await page.click('nav.sidebar >> text=Settings');
  await page.waitForURL(`${BASE_URL}/t/${slug}/settings`);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=leave-steward]');
  const [file] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-everything]')]);
  const lines = readFileSync(await file.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => l.table === 'audit_events' && l.row.action === 'business.created'));
  assert.ok(lines.some((l) => l.table === 'members' && l.row.email === `last-${id}@closing.example`));

  await page.fill('[data-testid=leave-steward] #field-confirmation', 'closing-shop');
  await page.click('[data-testid=delete-business]');
  await page.waitForSelector(`[data-testid=leave-steward] .field-error >> text=Type the business's address (${slug})`);
  await page.locator('[data-testid=leave-steward]').scrollIntoViewIfNeeded();
  await shot(page, '65-delete-business-confirm');
  await page.fill('[data-testid=leave-steward] #field-confirmation', slug);
  await Promise.all([page.waitForURL(`${BASE_URL}/?deleted=1`), page.click('[data-testid=delete-business]')]);
  await page.waitForSelector('[data-testid=business-deleted]');

  // The business is gone: its dashboard sends to sign in, and signing in finds no such business.
  await page.goto(`${BASE_URL}/t/${slug}/login`);
  await waitForHydration(page);
  await page.fill('#field-email', `last-${id}@closing.example`);
  await page.fill('#field-password', 'copper kettle harbor 42');
  await page.click('button[type=submit]');
  await page.waitForSelector('.form-error >> text=No business uses this address');
});
