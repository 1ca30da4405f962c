// Humans on the judgment calls, in the browser: the demo business starts
// with a queue of mixed review tasks (high value, low confidence, failed
// enrichment). Operations reassigns and closes in bulk and sees the queue
// over time; an owner adds a reason code; a reviewer decides from an
// emailed link (opening it changes nothing, it works once) and clears the
// rest of the queue with the keyboard.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BASE_URL, launch, shot, signIn, waitForHydration } from '../support/browser.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';
const MAIL_DIR = process.env.STEWARD_MAIL_DIR;
const QUEUE = `${BASE_URL}/t/acme-plumbing/review`;
const REVIEWER = 'reviewer@acme-plumbing.test';

// The reviewer's browser; other people sign in in browsers of their own
// (one browser holds one session cookie).
let browser;
before(async () => { browser = await launch({ width: 1300, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

async function as(email, work) {
  const other = await launch({ width: 1300, height: 900 });
  try {
    await signIn(other.page, 'acme-plumbing', email, DEMO_PASSWORD);
    await work(other.page);
  } finally {
    await other.context.close();
  }
  assert.deepEqual(other.errors, []);
}

async function openQueue(page, query = '') {
  await page.goto(`${QUEUE}${query}`);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=review-figures]');
}

const openCount = async (page) => Number(await page.textContent('[data-testid=open-count]'));

// The approval links emailed to `to`: [{ approve, task }] in the order sent.
function reviewLinks(to) {
  if (!MAIL_DIR) return [];
  const links = [];
  for (const file of readdirSync(MAIL_DIR).sort()) {
    if (!file.includes(to)) continue;
    const raw = readFileSync(path.join(MAIL_DIR, file), 'utf8').replace(/=\r?\n/g, '').replace(/=3D/g, '=');
    if (!/Subject: Decision needed/.test(raw)) continue;
    const approve = raw.match(/https?:\/\/[^\s"<]+\/approve\/[a-z0-9-]+\.[0-9a-f]{32}\.\d+\.[A-Za-z0-9_-]+/);
    const task = raw.match(/\/review\/([0-9a-f-]{36})/);
    if (approve && task) links.push({ approve: approve[0], task: task[1] });
  }
  return links;
}

test('the demo queue holds a mix of reasons, most urgent first, and an engineer is refused', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', REVIEWER, DEMO_PASSWORD);
  await page.click('nav.sidebar >> text=Review queue');
  await page.waitForURL(QUEUE);
  await waitForHydration(page);
  // The seeded leads are worked by the worker as the suite starts: wait until
  // at least 20 tasks are open and the count has settled.
  const deadline = Date.now() + 60000;
  let seen = -1;
  while (Date.now() < deadline) {
    const now = await openCount(page);
    if (now >= 20 && now === seen) break;
    seen = now;
    await page.waitForTimeout(2000);
    await openQueue(page);
  }
  assert.ok((await openCount(page)) >= 20, 'the demo starts with at least 20 open tasks');
  const reasons = await page.locator('[data-testid=queue-row] td[data-label=Why]').allTextContents();
  for (const reason of ['error', 'high value', 'low confidence']) {
    assert.ok(reasons.some((r) => r.startsWith(reason)), `a ${reason} task is in the queue`);
  }
  const priorities = await page.locator('[data-testid=queue-row]').evaluateAll((rows) => rows.map((r) => r.dataset.priority));
  assert.deepEqual(priorities, [...priorities].sort(), 'most urgent first');
  // A failed step in words, by the service's host; never the address with the customer's email in it.
  const failedWhy = reasons.find((r) => r.startsWith('error'));
  assert.match(failedWhy, /Step enrich: \S+ answered 503/);
  assert.doesNotMatch(failedWhy, /company-lookup|email=/);
  await shot(page, '30-review-queue');

  // The menu's badge and the dashboard say how many wait for this reviewer; the card opens the queue.
  const open = await openCount(page);
  await page.goto(`${BASE_URL}/t/acme-plumbing`);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=waiting-decisions]');
  assert.match(await page.textContent('[data-testid=waiting-decisions]'), new RegExp(`${open} decisions wait for you`));
  assert.equal(Number(await page.textContent('[data-testid=review-badge]')), open);
  await shot(page, '29-dashboard-waiting');
  await Promise.all([page.waitForURL(QUEUE), page.click('[data-testid=waiting-decisions]')]);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=review-figures]');

  // Filter by reason: only failed runs.
  await page.selectOption('#q-reason', 'error');
  await Promise.all([page.waitForURL(/reason=error/), page.click('[data-testid=queue-filters] button[type=submit]')]);
  await page.waitForSelector('[data-testid=queue-row]');
  const filtered = await page.locator('[data-testid=queue-row] td[data-label=Why]').allTextContents();
  assert.ok(filtered.length >= 3 && filtered.every((r) => r.startsWith('error')));

  await as('engineer@acme-plumbing.test', async (other) => {
    const res = await other.goto(QUEUE);
    assert.equal(res.status(), 403, 'engineers do not work the review queue');
  });
});

test('operations reassigns and closes tasks in bulk and sees the queue over time', () => as('ops@acme-plumbing.test', async (page) => {
  await openQueue(page);
  const before = await openCount(page);
  const rows = page.locator('[data-testid=queue-row]');
  const firstTwo = [await rows.nth(0).getAttribute('data-task'), await rows.nth(1).getAttribute('data-task')];
  await rows.nth(0).locator('input[type=checkbox]').check();
  await rows.nth(1).locator('input[type=checkbox]').check();
  await page.fill('[data-testid=bulk-actions] input', 'nobody@acme-plumbing.test');
  await page.click('[data-testid=reassign]');
  await page.waitForSelector('.form-error >> text=Choose a reviewer');
  await page.fill('[data-testid=bulk-actions] input', REVIEWER);
  await page.click('[data-testid=reassign]');
  for (const id of firstTwo) {
    await page.waitForSelector(`[data-task="${id}"] td[data-label=Assignee] >> text=${REVIEWER}`);
  }
  // Close the first one as a duplicate: it leaves the queue.
  await page.locator(`[data-task="${firstTwo[0]}"] input[type=checkbox]`).check();
  await page.selectOption('[data-testid=bulk-actions] select', 'duplicate');
  await page.click('[data-testid=close-tasks]');
  await page.waitForFunction((id) => !document.querySelector(`[data-task="${id}"]`), firstTwo[0]);
  assert.equal(await openCount(page), before - 1);
  // The queue over time: a bar per day and the reviewer's share.
  assert.equal(await page.locator('[data-testid=queue-bar]').count(), 14);
  assert.match(await page.textContent('[data-testid=per-reviewer]'), new RegExp(REVIEWER));
  await page.locator('[data-testid=queue-history]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${process.env.E2E_ARTIFACTS ?? 'artifacts'}/31-queue-operations.png` });
}));

test('an owner adds a reason code in Settings', () => as('owner@acme-plumbing.test', async (page) => {
  await page.goto(`${BASE_URL}/t/acme-plumbing/settings`);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=reason-codes] code');
  await page.fill('#f-code', 'Wrong Price!');
  await page.click('[data-testid=add-code]');
  await page.waitForSelector('[data-testid=code-error] >> text=lowercase');
  await page.fill('#f-code', 'wrong_price');
  await page.click('[data-testid=add-code]');
  await page.waitForSelector('[data-testid=reason-codes] code >> text=wrong_price');
}));

test('a reviewer decides from the emailed link: opening it changes nothing, it works once', { skip: !MAIL_DIR && 'STEWARD_MAIL_DIR not set' }, async () => {
  const { page } = browser;
  const links = reviewLinks(REVIEWER);
  assert.ok(links.length >= 20, 'every task was emailed to the reviewer');
  // A task still open (operations closed one above).
  await openQueue(page);
  const open = new Set(await page.locator('[data-testid=queue-row]').evaluateAll((rows) => rows.map((r) => r.dataset.task)));
  const link = links.find((l) => open.has(l.task));
  assert.ok(link, 'an emailed task is still open');

  const mail = await browser.context.newPage();
  await mail.goto(link.approve);
  await mail.waitForSelector('[data-testid=link-draft]');
  await mail.goto(link.approve); // a mail scanner, or a second look
  assert.match(await mail.textContent('h1'), /Review: lead-intake-qualification/);
  // The enquiry as labelled fields (the reviewer decides, so the contact shows in clear),
  // the draft the same way or a sentence saying why there is none, and the task in the queue one click away.
  assert.match(await mail.textContent('[data-testid=link-event] tr:first-child th'), /^Company name$/);
  assert.match(await mail.textContent('[data-testid=link-event]'), /Primary contact email[^•]+@[a-z-]+\.example/);
  assert.equal(await mail.locator('[data-testid=link-draft]').count(), 1);
  assert.equal(await mail.getAttribute('[data-testid=link-queue]', 'href'), `/t/acme-plumbing/review/${link.task}`);
  await shot(mail, '32-approval-link');
  // Nothing changed: the task is still open in the queue (the link's "open the task in the review queue").
  await Promise.all([mail.waitForURL(`${QUEUE}/${link.task}`), mail.click('[data-testid=link-queue]')]);
  await page.goto(`${QUEUE}/${link.task}`);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=open-task]');
  // The task page reads the same way: labelled fields, the raw JSON one click away.
  assert.equal(await page.textContent('[data-testid=task-event] dt'), 'Company name');
  assert.equal(await page.isVisible('[data-testid=task-event] pre.json'), false, 'the JSON stays folded');
  await page.click('[data-testid=task-event] details.raw summary');
  assert.match(await page.textContent('[data-testid=task-event] pre.json'), /"companyName"/);
  assert.ok(await page.isVisible('[data-testid=task-event] pre.json'));
  await shot(page, '32b-task-labelled-fields');
  await mail.goto(link.approve);

  await Promise.all([mail.waitForNavigation(), mail.click('[data-testid=link-approve]')]);
  assert.equal(await mail.textContent('[data-testid=link-state]'), 'Approved');
  await page.reload();
  await waitForHydration(page);
  await page.waitForSelector(`[data-testid=task-decided] >> text=approve by ${REVIEWER}`);
  // The page says what the decision set in motion.
  assert.match(await page.textContent('[data-testid=what-next]'), /Approved: the run goes on/);
  // The run continues to its end.
  await page.click('.page-head a[href*="/runs/"]');
  await page.waitForSelector('[data-testid=timeline]');
  await page.waitForFunction(() => /completed/.test(document.querySelector('.page-head h1')?.textContent ?? ''), null, { timeout: 20000 });

  await mail.goto(link.approve);
  assert.equal(await mail.textContent('[data-testid=link-state]'), 'Link already used');
  await mail.goto(`${link.approve.slice(0, -3)}AAA`);
  assert.equal(await mail.textContent('[data-testid=link-state]'), 'Link not valid');

  // Two more from their emails: one approved, one rejected (a reason is asked for first).
  const more = links.filter((l) => l !== link && open.has(l.task)).slice(0, 2);
  assert.equal(more.length, 2);
  await mail.goto(more[0].approve);
  await Promise.all([mail.waitForNavigation(), mail.click('[data-testid=link-approve]')]);
  assert.equal(await mail.textContent('[data-testid=link-state]'), 'Approved');
  await mail.goto(more[1].approve);
  await Promise.all([mail.waitForNavigation(), mail.click('[data-testid=link-reject]')]);
  assert.match(await mail.textContent('[data-testid=link-error]'), /Choose a reason/);
  await mail.selectOption('#reason_code', 'duplicate');
  await Promise.all([mail.waitForNavigation(), mail.click('[data-testid=link-reject]')]);
  assert.equal(await mail.textContent('[data-testid=link-state]'), 'Rejected');
  await mail.close();
});

test('the reviewer clears the rest of the queue with the keyboard, editing and rejecting where needed', async () => {
  const { page } = browser;
  await openQueue(page, '?sort=age');
  let left = await openCount(page);
  assert.ok(left >= 15, `${left} tasks left for the keyboard`);
  await page.locator('[data-testid=queue-row] a >> text=Open').first().click();
  await page.waitForSelector('[data-testid=open-task]');
  await waitForHydration(page);
  let edited = false;
  let rejected = false;
  while (left > 0) {
    await page.waitForSelector('[data-testid=open-task]');
    const reason = await page.textContent('.page-head h1');
    if (/error/.test(reason)) {
      // A failed enrichment: reject, with the reason the owner added.
      await page.press('body', 'r');
      await page.waitForSelector('[data-testid=reason-error] >> text=Choose a reason');
      await page.selectOption('#f-reason', 'wrong_price');
      await page.click('h1');
      await page.press('body', 'r');
      rejected = true;
    } else if (!edited) {
      // Edit and approve: a broken edit is refused next to the field, then a good one is kept with its diff.
      await page.click('[data-testid=edit-draft] summary');
      const draft = JSON.parse(await page.inputValue('#f-edited'));
      await page.fill('#f-edited', JSON.stringify({ ...draft, fit_score: 'very high' }));
      await page.selectOption('#f-reason', 'missing_context');
      await page.click('h1');
      await page.press('body', 'e');
      await page.waitForSelector('[data-testid=edit-error]:not(:empty)');
      assert.match(await page.textContent('[data-testid=edit-error]'), /fit_score/);
      await shot(page, '33-edit-refused-next-to-field');
      await page.fill('#f-edited', JSON.stringify({ ...draft, fit_score: 91, next_step: 'Call Dana on Monday' }, null, 2));
      await page.click('h1');
      await page.press('body', 'e');
      await page.waitForSelector('[data-testid=edit-changes] >> text=next_step');
      await shot(page, '34-edit-kept-with-diff');
      edited = true;
    } else {
      await page.press('body', 'a');
    }
    await page.waitForSelector('[data-testid=task-decided]');
    left -= 1;
    if (left === 0) {
      // The last one: nothing else waits, and the page says so.
      assert.match(await page.textContent('[data-testid=decided-next]'), /nothing else waits/);
      await Promise.all([page.waitForURL(QUEUE), page.click('[data-testid=decided-next]')]);
    }
    if (left > 0) {
      await page.waitForSelector('[data-testid=next-task]');
      await page.press('body', 'n');
      await page.waitForFunction(() => document.querySelector('[data-testid=open-task]'), null, { timeout: 15000 });
    }
  }
  assert.ok(edited && rejected);
  await openQueue(page);
  assert.equal(await openCount(page), 0);
  await page.waitForSelector('[data-testid=queue-empty]');
  assert.match(await page.textContent('[data-testid=rates-per-reviewer]'), new RegExp(REVIEWER));
  await shot(page, '35-queue-cleared');
});
