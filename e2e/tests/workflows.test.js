// An engineer edits the lead workflow in the browser: an error shows at its
// line as they type, a fixed contract is saved with a reason and published,
// the diff shows what changed, and one click rolls back.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, launch, shot, signIn, waitForHydration } from '../support/browser.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';
const WF = `${BASE_URL}/t/acme-plumbing/workflows/lead-intake-qualification`;

let browser;
before(async () => { browser = await launch({ width: 1400, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test('edit, see the error at its line, fix, save with a reason, publish, diff and roll back', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'engineer@acme-plumbing.test', DEMO_PASSWORD);
  await page.click('nav.sidebar >> text=Workflows');
  await page.waitForSelector('[data-testid=workflow-list] >> text=lead-intake-qualification');
  await page.click('text=lead-intake-qualification');
  await page.waitForURL(WF);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=contract-form]');
  await page.waitForSelector('.issues li.ok');

  const editor = page.locator('[data-testid=yaml]');
  const original = await editor.inputValue();
  await editor.fill(original.replace('type: rules', 'type: rulez'));
  const issue = page.locator('.issues li.issue');
  await issue.waitFor();
  assert.match(await issue.textContent(), /Line 19, column 11: unknown step type 'rulez'/);
  assert.equal(await page.getAttribute('.gutter span.bad', 'data-line'), '19');
  await shot(page, '10-editor-error-at-line');

  await editor.fill(original.replace('0.78', '0.82'));
  await page.waitForSelector('.issues li.ok');
  await page.fill('#field-note', 'Fewer low-confidence drafts skip review');
  await page.click('[data-testid=save-version]');
  await page.waitForSelector('[data-testid=version-2]');
  assert.match(await page.textContent('[data-testid=version-2]'), /Fewer low-confidence drafts skip review/);

  await page.click('[data-testid=publish-2]');
  await page.waitForSelector('[data-testid=version-2] .badge.live');
  await shot(page, '11-version-2-live');

  await page.click('[data-testid=version-2] >> text=Diff');
  await page.waitForSelector('[data-testid=diff]');
  assert.match(await page.textContent('[data-testid=diff] tr.removed'), /0\.78/);
  assert.match(await page.textContent('[data-testid=diff] tr.added'), /0\.82/);
  await shot(page, '12-diff-v1-v2');

  await page.goto(WF);
  await waitForHydration(page);
  await page.click('[data-testid=publish-1]');
  await page.waitForSelector('[data-testid=version-1] .badge.live');

  await page.fill('#backup-email', 'ops@acme-plumbing.test');
  await page.fill('#escalation', 'role:operations');
  await page.click('[data-testid=save-owners]');
  await page.waitForFunction(() => /Backup owner: ops@acme-plumbing\.test/.test(document.body.textContent));

  // The audit log is for the owner and operations.
  await page.click('[data-testid=sign-out]');
  await signIn(page, 'acme-plumbing', 'ops@acme-plumbing.test', DEMO_PASSWORD);
  await page.click('nav.sidebar >> text=Audit log');
  await page.waitForSelector('[data-testid=changes] >> text=workflow.rolled_back');
  assert.match(await page.textContent('[data-testid=changes]'), /Fewer low-confidence drafts skip review/);
  await shot(page, '13-change-log');
  await page.click('[data-testid=sign-out]');
});

test('install a workflow from the template gallery as a draft', async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'engineer@acme-plumbing.test', DEMO_PASSWORD);
  await page.goto(`${BASE_URL}/t/acme-plumbing/workflows`);
  await waitForHydration(page);
  await page.click('[data-testid=gallery]');
  await page.waitForSelector('[data-testid=gallery-support-ticket-triage]');
  await shot(page, '17-template-gallery');
  await page.click('[data-testid=install-support-ticket-triage]');
  await page.waitForURL(`${BASE_URL}/t/acme-plumbing/workflows/support-ticket-triage`);
  await page.waitForSelector('[data-testid=version-1]');
  assert.match(await page.textContent('[data-testid=version-1]'), /Installed 'Support ticket triage' from the gallery/);
  assert.equal(await page.isVisible('[data-testid=version-1] .badge.live'), false, 'installed as a draft');
  assert.match(await page.textContent('[data-testid=contract-form]'), /ticket_triage_v1/);
  await page.click('[data-testid=sign-out]');
});
