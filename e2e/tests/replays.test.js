// Changing safely: a new business runs its lead workflow on three leads, its
// owner corrects two drafts in review, makes a dataset of those overrides on
// the workflow's Replays page, replays a draft prompt change over it and
// reads the comparison (figures, then event by event), then asks for a
// replay before publishing: the next version is refused until it has one,
// and publishes once its replay is in.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_URL, launch, shot, signUpBusiness, waitForHydration, unique } from '../support/browser.js';

const FLOW = 'lead-intake-qualification';
const lead = (n) => ({
  companyName: `Replay Dental ${n}`, primaryContact: { name: `Ada Replay ${n}`, email: `ada-${n}-${unique()}@replaydental.example` },
  sourceChannel: 'website', lifecycleStage: 'lead', inquiry_text: `Clinic number ${n} wants fewer no-shows.`,
  annual_contract_value: 60000 + n, last_updated: new Date().toISOString(),
});

let browser;
before(async () => { browser = await launch({ width: 1280, height: 900 }); });
after(async () => {
  await browser?.context.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

test('an owner makes a dataset of the overrides, replays a prompt change, reads the comparison and publishes through the gate', async () => {
  const { page } = browser;
  const slug = await signUpBusiness(page, `Replay Dental ${unique()}`, `owner-${unique()}@replaydental.example`);
  const call = async (endpoint, form) => {
    const res = await page.request.post(`${BASE_URL}/api/${endpoint}`, { form, headers: { origin: BASE_URL, accept: 'application/json' } });
    assert.equal(res.status(), 200, `${endpoint}: ${await res.text()}`);
    return res.json();
  };
  await call('install_gallery_workflow', { slug, name: FLOW });
  await call('publish_workflow_version', { slug, name: FLOW, number: '1' });

  // Production: three leads, each over 50 000 a year, so each waits for a person.
  const tasks = [];
  for (const n of [1, 2, 3]) {
    const sent = await page.request.post(`${BASE_URL}/api/v1/t/${slug}/workflows/${FLOW}/events`, { headers: { origin: BASE_URL }, data: lead(n) });
    assert.equal(sent.status(), 202, await sent.text());
    const run = (await sent.json()).run_id;
    let task;
    for (let i = 0; i < 150 && !task; i++) {
      task = (await call('run_detail', { slug, id: run })).tasks.find((t) => t.open);
      if (!task) await page.waitForTimeout(200);
    }
    assert.ok(task, `run ${run} waits for a person`);
    tasks.push(task);
  }
  // The owner approves one draft as it is and corrects the next steps of the other two.
  await call('decide_review', { slug, task: tasks[0].id, decision: 'approve' });
  for (const task of tasks.slice(1)) {
    const edited = { ...JSON.parse(task.draft), next_step: 'Call them on Monday' };
    await call('decide_review', { slug, task: task.id, decision: 'edit_and_approve', edited_output: JSON.stringify(edited), reason_code: 'missing_context' });
  }

  // A dataset of the overrides, from the workflow's Replays page.
  await page.goto(`${BASE_URL}/t/${slug}/workflows/${FLOW}`);
  await waitForHydration(page);
  await Promise.all([page.waitForURL(`${BASE_URL}/t/${slug}/workflows/${FLOW}/replays`), page.click('[data-testid=replays-link]')]);
  await page.waitForSelector('[data-testid=no-datasets]');
  await waitForHydration(page);
  await page.click('[data-testid=make-dataset] button[type=submit]');
  await page.waitForFunction(() => /name/.test(document.querySelector('#field-name-error')?.textContent ?? ''));
  await page.fill('#field-name', 'Overrides this month');
  assert.equal(await page.inputValue('#field-pick'), 'overridden');
  await page.click('[data-testid=make-dataset] button[type=submit]');
  await page.waitForSelector('[data-testid=dataset-row]');
  assert.equal((await page.textContent('[data-testid=dataset-events]')).trim(), '2', 'the two corrected runs');

  // A draft prompt change: a new version of the prompt, not in production.
  const prompt = await call('prompt_detail', { slug, name: 'lead_summary_v4' });
  const changed = JSON.parse(prompt.document);
  changed.template = `${changed.template}\nLead with the budget.`;
  const draftVersion = await call('save_prompt', { slug, name: 'lead_summary_v4', document: JSON.stringify(changed), why: 'lead with the budget' });
  await page.reload();
  await page.waitForSelector('[data-testid=start-replay]');
  await waitForHydration(page);
  await page.selectOption('#field-prompt-version', String(draftVersion));
  await page.click('[data-testid=start-replay] button[type=submit]');
  await page.waitForSelector('[data-testid=replay-row]');
  // The list follows the replay to its end by itself.
  await page.waitForFunction(() => document.querySelector('[data-testid=replay-status]')?.textContent === 'completed', null, { timeout: 30_000 });
  assert.equal(await page.textContent('[data-testid=replay-progress]'), '2 of 2');
  assert.match(await page.textContent('[data-testid=replay-headline]'), /Agreement 0% → 0%/);
  await shot(page, '70-replays');

  // The comparison: production beside the replay, then each event with its draft's changes.
  await Promise.all([page.waitForURL(/\/replays\/[0-9a-f-]{36}$/), page.click('[data-testid=open-replay]')]);
  await page.waitForSelector('[data-testid=replay-figures]');
  await waitForHydration(page);
  assert.match(await page.textContent('[data-testid=replay-what]'), new RegExp(`lead_summary_v4 v${draftVersion} over Overrides this month`));
  const agreement = page.locator('[data-testid=figure]', { hasText: 'Agreement with the reviewers' });
  assert.match(await agreement.textContent(), /0%\s*0%\s*\+0\.0 points/);
  assert.match(await page.textContent('[data-testid=replay-counts]'), /Drafts that change\s*2/);
  assert.equal(await page.locator('[data-testid=replay-event]').count(), 2);
  const first = page.locator('[data-testid=replay-event]').first();
  assert.match(await first.textContent(), /Replay Dental [23]/);
  assert.match(await first.textContent(), /edited · production's draft differs · the replay's differs/);
  assert.ok(await first.locator('[data-testid=draft-changes] tr').count() > 1, 'the draft\'s fields that change are listed');
  await shot(page, '71-replay-comparison');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, '72-replay-comparison-phone');
  await page.setViewportSize({ width: 1280, height: 900 });

  // The owner asks for a replay before publishing.
  await page.goto(`${BASE_URL}/t/${slug}/workflows/${FLOW}/replays`);
  await page.waitForSelector('[data-testid=gate-form]');
  await waitForHydration(page);
  await page.check('[data-testid=gate-required]');
  await page.click('[data-testid=gate-form] button[type=submit]');
  await page.waitForFunction(() => /only after a replay in the last 14 days/.test(document.querySelector('[data-testid=gate-rule]')?.textContent ?? ''));

  // Version 2 raises the sales line: refused until it has a replay.
  const detail = await call('workflow_detail', { slug, name: FLOW });
  const yaml = detail.latest_yaml.replace('fit_score >= 40.0', 'fit_score >= 45.0');
  assert.notEqual(yaml, detail.latest_yaml);
  await call('save_workflow', { slug, yaml, note: 'raise the sales line' });
  await page.goto(`${BASE_URL}/t/${slug}/workflows/${FLOW}`);
  await page.waitForSelector('[data-testid=version-2]');
  await waitForHydration(page);
  assert.match(await page.textContent('[data-testid=gate-2]'), /needs a finished replay/);
  await page.click('[data-testid=publish-2]');
  await page.waitForFunction(() => /needs a finished replay/.test(document.querySelector('.form-error')?.textContent ?? ''));
  assert.equal(await page.isVisible('[data-testid=version-2] .badge.live'), false);

  // Its replay over the overrides, then publish.
  await page.goto(`${BASE_URL}/t/${slug}/workflows/${FLOW}/replays`);
  await page.waitForSelector('[data-testid=start-replay]');
  await waitForHydration(page);
  assert.equal(await page.inputValue('#field-version'), '2');
  await page.click('[data-testid=start-replay] button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=replay-row]').length === 2
    && document.querySelector('[data-testid=replay-status]')?.textContent === 'completed', null, { timeout: 30_000 });
  await page.goto(`${BASE_URL}/t/${slug}/workflows/${FLOW}`);
  await page.waitForSelector('[data-testid=replay-of-2]');
  await waitForHydration(page);
  assert.match(await page.textContent('[data-testid=replay-of-2]'), /Replayed today over 2 events: agreement 0% → 0%/);
  assert.equal(await page.locator('[data-testid=gate-2]').count(), 0, 'the gate is satisfied');
  await shot(page, '73-publish-through-the-gate');
  await page.click('[data-testid=publish-2]');
  await page.waitForSelector('[data-testid=version-2] .badge.live');
});
