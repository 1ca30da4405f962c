// Two-factor sign-in in the browser: a new owner sets up an authenticator
// from their account page (scanning is replaced by reading the key the page
// shows), keeps the recovery codes, then signs in with password and code;
// a wrong code is refused at the field. On a phone the set-up fits.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, finishSignUp, launch, shot, unique, waitForHydration } from '../support/browser.js';
import { totp } from '../support/totp.js';

let browser;
before(async () => { browser = await launch({ width: 1280, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

const PASSWORD = 'copper kettle harbor 42';

async function openBusiness(page, id) {
  await page.goto(`${BASE_URL}/signup`);
  await waitForHydration(page);
  await page.fill('#field-business_name', `Totp Bakery ${id}`);
  await page.fill('#field-email', `baker-${id}@bakery.example`);
  await page.fill('#field-password', PASSWORD);
  await finishSignUp(page, `baker-${id}@bakery.example`, `${BASE_URL}/t/totp-bakery-${id}`);
}

test('set up an authenticator, keep the recovery codes, and sign in with a code', async () => {
  const { page } = browser;
  const id = unique();
  const slug = `totp-bakery-${id}`;
  await openBusiness(page, id);

  // From the name in the menu to the account page.
  await page.click('[data-testid=me-email]');
  await page.waitForURL(`${BASE_URL}/t/${slug}/account`);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=two-factor-state] >> text=Off');
  await page.click('[data-testid=start-two-factor]');
  await page.waitForSelector('[data-testid=authenticator-set-up] .qr svg');
  const secret = await page.textContent('[data-testid=totp-secret]');
  await page.fill('[data-testid=authenticator-set-up] #field-code', '000000');
  await page.click('[data-testid=authenticator-set-up] button[type=submit]');
  await page.waitForSelector('[data-testid=authenticator-set-up] .field-error >> text=not right');
  await shot(page, '60-two-factor-set-up');
  await page.fill('[data-testid=authenticator-set-up] #field-code', totp(secret));
  await page.click('[data-testid=authenticator-set-up] button[type=submit]');
  await page.waitForSelector('[data-testid=recovery-codes]');
  const codes = await page.locator('[data-testid=recovery-codes] li').allTextContents();
  assert.equal(codes.length, 10);
  await page.waitForSelector('[data-testid=two-factor-state] >> text=On');
  await shot(page, '61-two-factor-on');

  // Signing in now takes the password and then a code.
  await page.click('[data-testid=sign-out]');
  await page.waitForURL(`${BASE_URL}/t/${slug}/login`);
  await waitForHydration(page);
  await page.fill('#field-email', `baker-${id}@bakery.example`);
  await page.fill('#field-password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=code-step]');
  await page.fill('[data-testid=code-step] #field-code', '123456');
  await page.click('[data-testid=code-step] button[type=submit]');
  await page.waitForSelector('[data-testid=code-step] .field-error >> text=not right');
  await shot(page, '62-sign-in-code-refused');
  // The next step's code (the set-up used this step's): one step of drift is allowed.
  await page.fill('[data-testid=code-step] #field-code', totp(secret, Date.now() / 1000 + 30));
  await Promise.all([page.waitForURL(`${BASE_URL}/t/${slug}`), page.click('[data-testid=code-step] button[type=submit]')]);
  await page.waitForSelector('[data-testid=welcome]');

  // The sign-ins are in the audit log.
  await page.goto(`${BASE_URL}/t/${slug}/changes`);
  await waitForHydration(page);
  await page.selectOption('#filter-area', 'sign-in');
  await page.waitForSelector('[data-testid=changes] >> text=sign_in.failed');
  assert.match(await page.textContent('[data-testid=changes]'), /sign_in\.succeeded/);
  assert.match(await page.textContent('[data-testid=changes]'), /two_factor\.enabled/);
  await page.click('[data-testid=sign-out]');
});

test('on a phone the set-up and the code step fit the screen', async () => {
  const phone = await launch({ width: 390, height: 844 });
  try {
    const { page } = phone;
    const id = unique();
    await openBusiness(page, id);
    await page.goto(`${BASE_URL}/t/totp-bakery-${id}/account`);
    await waitForHydration(page);
    await page.click('[data-testid=start-two-factor]');
    await page.waitForSelector('[data-testid=authenticator-set-up] .qr svg');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scroll (${overflow}px)`);
    await shot(page, '63-two-factor-phone');
    assert.deepEqual(phone.errors, []);
  } finally {
    await phone.context.close();
  }
});
