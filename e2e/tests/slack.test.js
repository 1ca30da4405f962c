// Slack approvals in the browser: an owner connects the business's Slack
// app in Settings (a wrong token is refused with Slack's reason), pastes
// the Request URL it shows into the (fake) Slack app, and links a reviewer
// to their Slack user. A task of a workflow with review.slack_channel is
// posted to the channel; the reviewer clicks Approve in the Slack message,
// the message shows the outcome, and the queue shows the task decided by
// them, in Slack.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'playwright-core';
import { BASE_URL, launch, shot, signIn, waitForHydration, unique } from '../support/browser.js';
import { startFakeSlack } from '../support/fake_slack.js';

const DEMO_PASSWORD = process.env.STEWARD_DEMO_PASSWORD ?? 'steward-demo-password';
const PORT = Number(process.env.FAKE_SLACK_PORT ?? 0);
const BOT_TOKEN = 'xoxb-4000000000-acme-e2e-bot-token';
const SIGNING_SECRET = 'e2e0signing0secret0from0slack0a1';

let browser;
let slack;
before(async () => {
  browser = await launch({ width: 1280, height: 900 });
  if (PORT) slack = await startFakeSlack({ port: PORT, botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, team: 'Acme (fake Slack)' });
});
after(async () => {
  await browser?.context.close();
  await slack?.close();
  assert.deepEqual(browser?.errors ?? [], []);
});

// Sends a lead to `workflow`, signed the Standard Webhooks way with `secret`.
async function sendLead(workflow, secret) {
  const lead = JSON.parse(readFileSync(new URL('../../engine/tests/fixtures/lead.website_form.json', import.meta.url)));
  const body = JSON.stringify({ ...lead, companyName: `Harbor Dental ${unique()}`, last_updated: new Date().toISOString() });
  const id = `msg_${unique()}`;
  const t = Math.floor(Date.now() / 1000);
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const sig = createHmac('sha256', key).update(`${id}.${t}.${body}`).digest('base64');
  const sender = await request.newContext();
  const res = await sender.post(`${BASE_URL}/hooks/acme-plumbing/${workflow}`, {
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(t), 'webhook-signature': `v1,${sig}` },
    data: body,
  });
  const answer = { status: res.status(), body: await res.text() };
  await sender.dispose();
  return answer;
}

test('an owner connects Slack and a reviewer approves a task from its Slack message', { skip: !PORT && 'FAKE_SLACK_PORT is not set' }, async () => {
  const { page } = browser;
  await signIn(page, 'acme-plumbing', 'owner@acme-plumbing.test', DEMO_PASSWORD);
  await page.goto(`${BASE_URL}/t/acme-plumbing/settings`);
  await waitForHydration(page);
  await page.waitForSelector('[data-testid=slack-not-connected]');
  const requestUrl = (await page.textContent('[data-testid=slack-request-url]')).trim();
  assert.equal(requestUrl, `${BASE_URL}/slack/interactions/acme-plumbing`);
  slack.setInteractionUrl(requestUrl);

  // A token Slack does not know is refused with Slack's own reason, beside the field.
  await page.fill('#field-bot_token', 'xoxb-1111111111-not-this-apps-token');
  await page.fill('#field-signing_secret', SIGNING_SECRET);
  await page.click('[data-testid=slack-connect] button[type=submit]');
  await page.waitForFunction(() => /invalid_auth/.test(document.querySelector('#field-bot_token-error')?.textContent ?? ''));
  await page.fill('#field-bot_token', BOT_TOKEN);
  await page.click('[data-testid=slack-connect] button[type=submit]');
  await page.waitForSelector('[data-testid=slack-connected]');
  assert.match(await page.textContent('[data-testid=slack-connected]'), /Acme \(fake Slack\).*owner@acme-plumbing\.test/);

  // The reviewer's Slack member ID: a malformed one is refused, the right one saved.
  const row = page.locator('[data-testid=slack-member]', { hasText: 'reviewer@acme-plumbing.test' });
  await row.locator('input').fill('reviewer');
  await row.locator('button').click();
  await row.locator('.field-error', { hasText: 'U04ABCDE12' }).waitFor();
  await row.locator('input').fill('U0REVIEWER');
  await row.locator('button').click();
  await row.locator('.badge', { hasText: 'Saved' }).waitFor();
  await page.locator('[data-testid=slack-settings]').scrollIntoViewIfNeeded();
  await page.locator('[data-testid=slack-settings]').screenshot({ path: `${process.env.E2E_ARTIFACTS ?? 'artifacts'}/70-settings-slack.png` });
  const phone = await launch({ width: 390, height: 844 });
  await signIn(phone.page, 'acme-plumbing', 'owner@acme-plumbing.test', DEMO_PASSWORD);
  await phone.page.goto(`${BASE_URL}/t/acme-plumbing/settings`);
  await waitForHydration(phone.page);
  await phone.page.waitForSelector('[data-testid=slack-connected]');
  assert.equal(await phone.page.inputValue('[data-testid=slack-member]:has-text("reviewer@acme-plumbing.test") input'), 'U0REVIEWER');
  await phone.page.locator('[data-testid=slack-settings]').screenshot({ path: `${process.env.E2E_ARTIFACTS ?? 'artifacts'}/71-settings-slack-phone.png` });
  const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the settings page fits a phone (${overflow}px wider)`);
  await phone.context.close();
  assert.deepEqual(phone.errors, []);

  // A workflow whose sign-off tasks go to #sales-reviews.
  const name = `slack-signoff-${unique()}`;
  const yaml = `workflow: ${name}
version: 1
trigger: { source: webhook, event: lead.created }
steps:
  - { id: normalize, type: function, function: normalize, output: normalized_lead }
  - { id: sign_off, type: approval, reviewers: ['role:reviewer'], output: sign_off }
review: { slack_channel: '#sales-reviews' }
`;
  const call = (endpoint, form) => page.request.post(`${BASE_URL}/api/${endpoint}`, { form, headers: { origin: BASE_URL, accept: 'application/json' } });
  assert.equal((await call('save_workflow', { slug: 'acme-plumbing', yaml, note: 'Sign-off in Slack' })).status(), 200);
  assert.equal((await call('publish_workflow_version', { slug: 'acme-plumbing', name, number: '1' })).status(), 200);
  const rotated = await call('rotate_webhook_secret', { slug: 'acme-plumbing', name });
  assert.equal(rotated.status(), 200);
  const secret = await rotated.json();
  const sent = await sendLead(name, secret);
  assert.equal(sent.status, 202, sent.body);

  // The reviewer sees the task in Slack: why, the draft, and the buttons.
  const reviewer = await launch({ width: 1000, height: 800 });
  const inSlack = reviewer.page;
  for (let i = 0; i < 60 && !slack.messages.some((m) => m.channel === '#sales-reviews' && !m.thread_ts); i++) await inSlack.waitForTimeout(250);
  await inSlack.goto(`${slack.url}/?as=U0REVIEWER`);
  const message = inSlack.locator('[data-testid=slack-message]', { hasText: name }).last();
  await message.waitFor();
  assert.match(await message.textContent(), /The workflow asks a person to approve at step sign_off/);
  await message.screenshot({ path: `${process.env.E2E_ARTIFACTS ?? 'artifacts'}/72-slack-task-message.png` });
  const queueLink = await message.locator('.context a').first().getAttribute('href');
  await message.locator('button', { hasText: 'Approve' }).click();
  await inSlack.waitForFunction(() => document.body.dataset.clicked === '200');

  // The message now says who approved, without buttons.
  for (let i = 0; i < 60; i++) {
    await inSlack.reload();
    if (/Approved by reviewer@acme-plumbing\.test/.test(await message.textContent())) break;
    await inSlack.waitForTimeout(250);
  }
  assert.match(await message.textContent(), /Approved by reviewer@acme-plumbing\.test/);
  assert.equal(await message.locator('button').count(), 0);
  await message.screenshot({ path: `${process.env.E2E_ARTIFACTS ?? 'artifacts'}/73-slack-task-decided.png` });

  // In Steward the task is decided by the reviewer, from Slack.
  await signIn(inSlack, 'acme-plumbing', 'reviewer@acme-plumbing.test', DEMO_PASSWORD);
  await inSlack.goto(queueLink);
  await waitForHydration(inSlack);
  await inSlack.waitForSelector('[data-testid=task-decided]');
  assert.match(await inSlack.textContent('[data-testid=task-decided]'), /approve by reviewer@acme-plumbing\.test/);
  assert.match(await inSlack.textContent('[data-testid=task-decided]'), /Decided in Slack/);
  assert.match(await inSlack.textContent('[data-testid=task-slack]'), /Posted to Slack \(#sales-reviews\)/);
  await shot(inSlack, '74-task-decided-in-slack');
  await reviewer.context.close();
  assert.deepEqual(reviewer.errors, []);
});
