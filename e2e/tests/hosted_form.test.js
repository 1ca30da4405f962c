// A new owner makes the hosted form speak to their customers: the business's
// name on top, their own heading, intro, labels and thank-you; then a
// customer fills it in on a phone.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, launch, shot, signUpBusiness, unique, waitForHydration } from '../support/browser.js';

let browser;
before(async () => { browser = await launch({ width: 1280, height: 800 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test("the owner writes the form's words and a customer on a phone reads them", async () => {
  const { page, context } = browser;
  const id = unique();
  const slug = await signUpBusiness(page, `Tide Plumbing ${id}`, `tess-${id}@tide.example`);
  await page.goto(`${BASE_URL}/t/${slug}/workflows/gallery`);
  await waitForHydration(page);
  await Promise.all([
    page.waitForURL(`${BASE_URL}/t/${slug}/workflows/lead-intake-qualification`),
    page.click('[data-testid=install-lead-intake-qualification]'),
  ]);
  await waitForHydration(page);
  await page.click('[data-testid=publish-latest]');
  await page.waitForSelector('[data-testid=workflow-openapi]');

  await page.click('[data-testid=form-words] summary');
  assert.equal(await page.getAttribute('#f-form-intro', 'placeholder'), 'Tell us about your request and we will get back to you.');
  await page.fill('#f-form-heading', 'Book a plumber');
  await page.fill('#f-form-intro', 'Tell us what leaks and where; we answer within a day.');
  await page.fill('#f-label-primaryContact-email', 'Your email');
  await page.fill('#f-form-thanks', 'Thanks! A plumber will call you back today.');
  await page.click('[data-testid=save-form-words]');
  await page.waitForSelector('[data-testid=form-words-saved]');
  await page.locator('[data-testid=form-words]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${process.env.E2E_ARTIFACTS ?? 'artifacts'}/64-form-words.png` });
  const formUrl = await page.getAttribute('[data-testid=form-link]', 'href');

  const phone = await context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(formUrl);
  assert.equal(await phone.textContent('[data-testid=form-business]'), `Tide Plumbing ${id}`);
  assert.equal(await phone.textContent('h1'), 'Book a plumber');
  assert.equal(await phone.textContent('[data-testid=form-intro]'), 'Tell us what leaks and where; we answer within a day.');
  assert.match(await phone.textContent('label[for=f-primaryContact-email]'), /^Your email/);
  assert.equal(await phone.locator('text=Qualify website leads').count(), 0, 'no internal description');
  assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scroll at 390 px');
  await shot(phone, '65-hosted-form-owners-words-390');
  await phone.fill('[name=companyName]', 'Harbor Dental');
  await phone.fill('[name="primaryContact.name"]', 'Dana Whitfield');
  await phone.fill('[name="primaryContact.email"]', 'dana@harbordental.example');
  await phone.click('button[type=submit]');
  await phone.waitForSelector('[data-testid=form-thanks]');
  assert.equal(await phone.textContent('[data-testid=form-thanks]'), 'Thanks! A plumber will call you back today.');
  await shot(phone, '66-hosted-form-thanks-390');
  await phone.close();
});
