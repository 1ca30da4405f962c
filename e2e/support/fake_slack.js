// A fake Slack for the browser tests: it speaks the part of Slack's Web API
// Steward calls (auth.test, chat.postMessage, chat.update), shows the
// channel's messages as a page with their Block Kit buttons and reason
// list, and — like Slack — turns a click into a signed block_actions
// interaction posted to the app's Interactivity Request URL.
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

// Slack's mrkdwn, as much as Steward writes: *bold*, <url|label>, line breaks.
const mrkdwn = (s) => esc(s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'))
  .replace(/\*([^*\n]+)\*/g, '<b>$1</b>')
  .replace(/(^|\s)_([^_\n]+)_(?=\s|$)/g, '$1<i>$2</i>')
  .replace(/&lt;([^|&]+)\|([^&]+)&gt;/g, '<a href="$1">$2</a>')
  .replace(/\n/g, '<br>');

function block(b, ts) {
  switch (b.type) {
    case 'header': return `<h3>${esc(b.text.text)}</h3>`;
    case 'section': return `<div class="section">${mrkdwn(b.text?.text ?? '')}${(b.fields ?? []).map((f) => `<div class="field">${mrkdwn(f.text)}</div>`).join('')}</div>`;
    case 'context': return `<div class="context">${b.elements.map((e) => mrkdwn(e.text)).join(' ')}</div>`;
    case 'actions': return `<div class="actions">${b.elements.map((e) => e.type === 'button'
      ? `<button data-ts="${ts}" data-block="${b.block_id}" data-action="${e.action_id}" data-value="${esc(e.value)}" class="${e.style ?? ''}">${esc(e.text.text)}</button>`
      : `<select data-ts="${ts}" data-action="${e.action_id}"><option value="">${esc(e.placeholder.text)}</option>${e.options.map((o) => `<option value="${esc(o.value)}">${esc(o.text.text)}</option>`).join('')}</select>`).join(' ')}</div>`;
    default: return '';
  }
}

export async function startFakeSlack({ port, botToken, signingSecret, team }) {
  const messages = []; // { channel, ts, text, blocks, thread_ts }
  let interactionUrl = null;
  let seq = 0;
  const read = (req) => new Promise((resolve) => { let b = ''; req.on('data', (c) => { b += c; }); req.on('end', () => resolve(b)); });
  const json = (res, status, body) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${port}`);
    const body = await read(req);
    if (url.pathname.startsWith('/api/')) {
      if (req.headers.authorization !== `Bearer ${botToken}`) return json(res, 200, { ok: false, error: 'invalid_auth' });
      const call = body ? JSON.parse(body) : {};
      switch (url.pathname) {
        case '/api/auth.test': return json(res, 200, { ok: true, team, user_id: 'U0BOT' });
        case '/api/chat.postMessage': {
          const ts = `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, '0')}`;
          messages.push({ channel: call.channel, ts, text: call.text, blocks: call.blocks ?? [], thread_ts: call.thread_ts });
          return json(res, 200, { ok: true, channel: 'C0SALES', ts });
        }
        case '/api/chat.update': {
          const m = messages.find((x) => x.ts === call.ts);
          if (!m) return json(res, 200, { ok: false, error: 'message_not_found' });
          Object.assign(m, { text: call.text, blocks: call.blocks ?? [] });
          return json(res, 200, { ok: true, channel: call.channel, ts: call.ts });
        }
        default: return json(res, 200, { ok: false, error: 'unknown_method' });
      }
    }
    if (url.pathname === '/click' && req.method === 'POST') {
      // What Slack does on a click: a block_actions payload with the message's state, signed.
      const click = JSON.parse(body);
      const m = messages.find((x) => x.ts === click.ts);
      const payload = {
        type: 'block_actions', user: { id: click.user, username: click.user, team_id: 'T0ACME' }, team: { id: 'T0ACME' },
        container: { type: 'message', message_ts: click.ts, channel_id: 'C0SALES' }, channel: { id: 'C0SALES', name: m.channel.replace('#', '') },
        message: { ts: click.ts, text: m.text }, trigger_id: `${Date.now()}.1.abc`,
        state: { values: { steward_decide: { steward_reason: { type: 'static_select', selected_option: click.reason ? { value: click.reason } : null } } } },
        actions: [{ action_id: click.action, block_id: click.block, type: 'button', value: click.value, action_ts: `${Date.now() / 1000}` }],
      };
      const form = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
      const t = Math.floor(Date.now() / 1000);
      const sig = `v0=${createHmac('sha256', signingSecret).update(`v0:${t}:${form}`).digest('hex')}`;
      const answer = await fetch(interactionUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(t), 'x-slack-signature': sig },
        body: form,
      });
      return json(res, 200, { status: answer.status });
    }
    if (url.pathname === '/') {
      // The channel as its member `as` sees it: each message, its thread replies under it.
      const user = url.searchParams.get('as') ?? '';
      const top = messages.filter((m) => !m.thread_ts);
      const html = `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>#sales-reviews · Slack (fake)</title>
<style>body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f8f8f8;color:#1d1c1d}header{background:#3f0e40;color:#fff;padding:10px 16px;font-weight:700}
.msg{background:#fff;margin:12px;padding:12px 16px;border-radius:8px;border:1px solid #ddd}.msg h3{margin:0 0 6px}.section{margin:6px 0}.field{display:inline-block;min-width:45%;margin:4px 8px 4px 0;vertical-align:top}
.actions{margin:10px 0;display:flex;gap:8px;flex-wrap:wrap}button{padding:6px 14px;border-radius:4px;border:1px solid #bbb;background:#fff;font-weight:700;cursor:pointer}button.primary{background:#007a5a;color:#fff;border-color:#007a5a}button.danger{color:#e01e5a;border-color:#e01e5a}
select{padding:6px}.context{color:#616061;font-size:13px}.reply{border-left:3px solid #ddd;margin:8px 0 0;padding:4px 10px;color:#444;font-size:14px}</style></head>
<body><header># sales-reviews</header>${top.map((m) => `<div class="msg" data-testid="slack-message" data-ts="${m.ts}">${m.blocks.map((b) => block(b, m.ts)).join('')}
${messages.filter((r) => r.thread_ts === m.ts).map((r) => `<div class="reply" data-testid="slack-reply">${mrkdwn(r.text)}</div>`).join('')}</div>`).join('')}
<script>
document.querySelectorAll('button[data-action]').forEach((b) => b.addEventListener('click', async () => {
  const reason = document.querySelector('select[data-ts="' + b.dataset.ts + '"]')?.value || null;
  const r = await fetch('/click', { method: 'POST', body: JSON.stringify({ user: ${JSON.stringify(user)}, ts: b.dataset.ts, block: b.dataset.block, action: b.dataset.action, value: b.dataset.value, reason }) });
  document.body.dataset.clicked = String((await r.json()).status);
}));
</script></body></html>`;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(html);
    }
    res.writeHead(404); res.end();
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    messages,
    setInteractionUrl: (u) => { interactionUrl = u; },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
