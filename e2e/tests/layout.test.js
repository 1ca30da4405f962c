// Every page fits its screen and passes axe-core: at 1280 px (a laptop) and
// 390 px (a phone) no page scrolls sideways (a table that must scroll does so
// inside its own keyboard-focusable region), and axe-core finds no violation.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { BASE_URL, launch, shot, signIn, waitForHydration } from '../support/browser.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const T = `${BASE_URL}/t/acme-plumbing`;

let browser;
before(async () => { browser = await launch({ width: 1280, height: 800 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

// What is wrong with the page on screen now: sideways scroll, and axe-core's violations.
async function problems(page, label) {
  const found = [];
  const overflow = await page.evaluate(() => {
    const width = window.innerWidth;
    if (document.documentElement.scrollWidth <= width) return null;
    // The widest offenders, to say where to look.
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > width + 1)
      .filter((e) => !e.closest('.table-scroll, .chart-scroll, pre'))
      .slice(0, 4)
      .map((e) => `${e.tagName.toLowerCase()}${e.className ? '.' + String(e.className).split(' ').join('.') : ''} (${Math.round(e.getBoundingClientRect().right)} px)`);
    return `${document.documentElement.scrollWidth} px wide: ${wide.join(', ')}`;
  });
  if (overflow) found.push(`${label}: scrolls sideways, ${overflow}`);
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
  for (const v of violations) found.push(`${label}: axe ${v}`);
  return found;
}

// An approval link the demo's reviewer was emailed (its page is public: the token is the key).
function anApprovalLink() {
  const dir = process.env.STEWARD_MAIL_DIR;
  if (!dir) return null;
  for (const file of readdirSync(dir).sort()) {
    if (!file.includes('reviewer@acme-plumbing.test')) continue;
    const raw = readFileSync(path.join(dir, file), 'utf8').replace(/=\r?\n/g, '').replace(/=3D/g, '=');
    const link = raw.match(/https?:\/\/[^\s"<]+\/approve\/[a-z0-9-]+\.[0-9a-f]{32}\.\d+\.[A-Za-z0-9_-]+/);
    if (link) return link[0];
  }
  return null;
}

// The first link on the page matching `selector`, without waiting for one.
const firstHref = (page, selector) => page.$$eval(selector, (links) => links[0]?.getAttribute('href') ?? null);

// `hydrates`: false for the pages the server writes alone (the hosted form, the approval link).
async function visit(page, url, label, ready, hydrates = true) {
  await page.goto(url);
  if (hydrates) await waitForHydration(page);
  if (ready) await page.waitForSelector(ready);
  await page.waitForLoadState('networkidle');
  return problems(page, label);
}

test('every page fits at 1280 and 390 px and has no axe-core violation', async () => {
  const { page } = browser;
  const found = [];
  const publicPages = [
    [`${BASE_URL}/`, 'landing'],
    [`${BASE_URL}/signup`, 'sign-up'],
    [`${BASE_URL}/login`, 'sign-in'],
    [`${T}/login`, 'business sign-in'],
    [`${BASE_URL}/forms/acme-plumbing/lead-intake-qualification`, 'hosted form', 'form', false],
    [`${BASE_URL}/invite/not-a-real-invitation`, 'invitation'],
  ];
  const approval = anApprovalLink();
  if (approval) publicPages.push([approval, 'approval link', '[data-testid=link-approve]', false]);
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 800 });
    for (const [url, label, ready, hydrates] of publicPages) {
      found.push(...await visit(page, url, `${label} @${width}`, ready, hydrates));
    }
  }
  await signIn(page, 'acme-plumbing', 'owner@acme-plumbing.test', DEMO_PASSWORD);
  // One of each kind of detail page, read from the lists.
  await page.goto(`${T}/runs`);
  await waitForHydration(page);
  const run = await page.getAttribute('[data-testid=run-row] a', 'href');
  await page.goto(`${T}/review`);
  await waitForHydration(page);
  const task = await page.getAttribute('[data-testid=queue-row] a', 'href');
  await page.goto(`${T}/workflows/lead-intake-qualification`);
  await waitForHydration(page);
  const workflowDiff = await firstHref(page, 'a[href*="/diff?"]');
  await page.goto(`${T}/prompts/lead_summary_v4`);
  await waitForHydration(page);
  const promptDiff = await firstHref(page, 'a[href*="/diff?"]');
  // The demo's replay of last month's reviewed leads.
  await page.goto(`${T}/workflows/lead-intake-qualification/replays`);
  await waitForHydration(page);
  const replay = await firstHref(page, '[data-testid=open-replay]');
  const pages = [
    ['', 'dashboard', '[data-testid=welcome]'],
    ['/workflows', 'workflows'],
    ['/workflows/gallery', 'gallery'],
    ['/workflows/lead-intake-qualification', 'workflow', '[data-testid=versions]'],
    ['/workflows/lead-intake-qualification/replays', 'replays', '[data-testid=dataset-row]'],
    ['/prompts', 'prompts'],
    ['/prompts/lead_summary_v4', 'prompt'],
    ['/data-contracts', 'data contracts'],
    ['/data-contracts/lead', 'data contract'],
    ['/models', 'models'],
    ['/runs', 'runs', '[data-testid=run-row]'],
    [run.replace('/t/acme-plumbing', ''), 'run'],
    ['/runs/exceptions', 'exceptions'],
    ['/review', 'review queue', '[data-testid=queue-row]'],
    [task.replace('/t/acme-plumbing', ''), 'review task'],
    ['/costs', 'costs'],
    ['/reports', 'reports'],
    ['/governance', 'governance'],
    ['/changes', 'change log'],
    ['/settings', 'settings'],
    ['/account', 'account'],
    ['/tokens', 'API tokens'],
  ];
  if (workflowDiff) pages.push([workflowDiff.replace('/t/acme-plumbing', ''), 'workflow diff']);
  if (promptDiff) pages.push([promptDiff.replace('/t/acme-plumbing', ''), 'prompt diff']);
  assert.ok(replay, 'the demo business has a replay to compare');
  pages.push([replay.replace('/t/acme-plumbing', ''), 'replay comparison', '[data-testid=replay-figures]']);
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 800 });
    for (const [path, label, ready] of pages) {
      const before = found.length;
      found.push(...await visit(page, `${T}${path}`, `${label} @${width}`, ready));
      if (found.length > before) await shot(page, `layout-${label.replace(/ /g, '-')}-${width}`);
    }
  }
  assert.deepEqual(found, []);
});
