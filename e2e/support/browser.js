// Launches Debian's Chromium through playwright-core, headless, with the
// flags this sandboxed network needs (no background traffic to Google).
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const BASE_URL = process.env.STEWARD_URL ?? 'http://127.0.0.1:3000';
export const ARTIFACTS = path.resolve(process.env.E2E_ARTIFACTS ?? 'artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

export async function launch({ width = 1280, height = 860 } = {}) {
  const context = await chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), 'steward-e2e-')), {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width, height },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(15000);
  // Script errors (a failed hydration, a panic in the wasm) are collected so
  // a test can insist there were none.
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) errors.push(m.text()); });
  // A page's own files (scripts, styles, images, fonts, the icon) never 404.
  page.on('response', (r) => {
    const kind = r.request().resourceType();
    if (r.status() === 404 && ['script', 'stylesheet', 'image', 'font', 'manifest'].includes(kind)) {
      errors.push(`404 for a ${kind}: ${r.url()}`);
    }
  });
  return { context, page, errors };
}

export async function shot(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

// Resolves once the Leptos app has hydrated: the wasm module sets up event
// handlers, after which typing in the business name fills the slug.
export async function waitForHydration(page) {
  await page.waitForFunction(() => window.__stewardHydrated === true, null, { timeout: 20000 });
}

export async function signIn(page, slug, email, password) {
  await page.goto(`${BASE_URL}/t/${slug}/login`);
  await waitForHydration(page);
  await page.fill('#field-email', email);
  await page.fill('#field-password', password);
  await Promise.all([
    page.waitForURL(`${BASE_URL}/t/${slug}`),
    page.click('button[type=submit]'),
  ]);
}

export const unique = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

// The code in the newest sign-up email to `email` in the mailbox the test
// server sends to (STEWARD_MAIL_DIR, one .eml file per message).
export async function signUpCode(email) {
  const dir = process.env.STEWARD_MAIL_DIR;
  if (!dir) throw new Error('STEWARD_MAIL_DIR is not set: the sign-up code arrives by email');
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const files = readdirSync(dir).filter((f) => f.includes(email))
      .map((f) => path.join(dir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
    for (const file of files) {
      const match = readFileSync(file, 'utf8').match(/^Subject: (\d{6}) is your Steward code/m);
      if (match) return match[1];
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no sign-up code for ${email} arrived`);
}

// Sends the filled sign-up form, types the emailed code and waits for `url`.
export async function finishSignUp(page, email, url, screenshot) {
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=code-step]');
  if (screenshot) await shot(page, screenshot);
  await page.fill('#field-code', await signUpCode(email));
  await Promise.all([page.waitForURL(url), page.click('[data-testid=code-step] button[type=submit]')]);
}

// Signs a new business up from the sign-up page (name → the address's slug),
// confirms the emailed code, and waits on its hydrated dashboard.
export async function signUpBusiness(page, name, email, password = 'copper kettle harbor 42') {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  await page.goto(`${BASE_URL}/signup`);
  await waitForHydration(page);
  await page.fill('#field-business_name', name);
  await page.fill('#field-email', email);
  await page.fill('#field-password', password);
  await finishSignUp(page, email, `${BASE_URL}/t/${slug}`);
  await waitForHydration(page);
  return slug;
}
