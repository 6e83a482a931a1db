// Drives Debian's chromium (headless, through playwright-core) through the
// operator's views of the web page against a real d4hub (see web_ops.sh):
// each view as admin and as user, every admin action checked through the API
// with a deadline, every confirmation cancelled once first (nothing changes),
// refusals shown next to their action, hostile text rendered as text, and a
// screenshot of each view per role.
// Usage: node web_ops.mjs URL ADMIN_TOKEN SHOT_DIR
// env: D4_USER_TOKEN, D4_SENSOR_ARGS (JSON argv of a d4-sensor run, "KEY" in
// place of its key), D4_HOSTILE_DESC, D4_HOSTILE_MAIL, D4_PENDING (3 uuids),
// D4_CONNECTED (a connected sensor), D4_ROTATED (a sensor whose key is rotated).
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';

const [url, token, shots] = process.argv.slice(2);
const env = process.env;
const [P1, P2, P3] = env.D4_PENDING.split(' ');
const C = env.D4_CONNECTED, D = env.D4_ROTATED;
const fail = (msg) => { console.error('FAIL: ' + msg); process.exitCode = 1; };
const DEADLINE = 30000;

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });

// The API as the witness of what the page did (not through the page).
async function apiCall(method, path, tok = token, body) {
  const opts = { method, headers: { Authorization: 'Bearer ' + tok }, failOnStatusCode: false };
  if (body !== undefined) opts.data = body;
  const r = await context.request.fetch(url + path, opts);
  const text = await r.text();
  return { status: r.status(), body: text && r.headers()['content-type']?.includes('json') ? JSON.parse(text) : null };
}
const apiGet = (path, tok) => apiCall('GET', path, tok);
// Polls pred(answer of GET path) until true, or fails with what was last seen.
async function until(what, path, pred, tok) {
  const end = Date.now() + DEADLINE;
  let last;
  for (;;) {
    last = await apiGet(path, tok);
    if (pred(last)) return last;
    if (Date.now() > end) throw new Error(what + ': not seen in ' + DEADLINE / 1000 + ' s; last answer ' + last.status + ' ' + JSON.stringify(last.body)?.slice(0, 300));
    await new Promise((r) => setTimeout(r, 200));
  }
}
const sensor = (u) => apiGet('/api/v1/sensors/' + u);

function watch(page, who, expected) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(who + ': ' + String(e)));
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(who + ': ' + m.text()); });
  page.on('response', (r) => {
    if (r.status() < 400) return;
    const key = r.request().method() + ' ' + r.url().slice(url.length);
    if (expected.some(([m, re, st]) => key.startsWith(m + ' ') && re.test(key.slice(m.length + 1)) && st === r.status())) return;
    errors.push(who + ': ' + r.status() + ' ' + key);
  });
  // every state-changing request the page sends
  const mutations = [];
  page.on('request', (r) => { if (r.method() !== 'GET') mutations.push(r.method() + ' ' + r.url().slice(url.length)); });
  return { errors, mutations };
}
// The next dialog: accept (with text for a prompt) or dismiss; returns its message.
// No dialog within the deadline: the action asked no confirmation (a failure).
function nextDialog(page, accept, text) {
  return new Promise((resolve, reject) => {
    const onDialog = async (d) => {
      clearTimeout(timer);
      const m = d.message();
      if (accept) await d.accept(text); else await d.dismiss();
      resolve(m);
    };
    const timer = setTimeout(() => {
      page.off('dialog', onDialog);
      reject(new Error('no confirmation was asked'));
    }, DEADLINE);
    page.once('dialog', onDialog);
  });
}
// A cancelled confirmation: no request leaves the page, and a whole refresh later nothing changed.
async function cancelled(page, w, click, what) {
  const before = w.mutations.length;
  const dlg = nextDialog(page, false);
  await click();
  const msg = await dlg;
  await page.waitForResponse((r) => r.request().method() === 'GET' && r.url().startsWith(url + '/api/v1/'), { timeout: DEADLINE });
  if (w.mutations.length !== before) fail(what + ': a cancelled confirmation sent ' + w.mutations.slice(before).join(', '));
  return msg;
}
async function confirmed(page, click, text) {
  const dlg = nextDialog(page, true, text);
  await click();
  return dlg;
}
const visibleText = (page, sel, want) => page.waitForFunction(([s, w]) => {
  const el = document.querySelector(s);
  return el && el.offsetParent !== null && el.textContent.includes(w);
}, [sel, want], { timeout: DEADLINE }).catch(async (e) => {
  const hidden = await page.evaluate((x) => { const el = document.querySelector(x); return !el || el.offsetParent === null; }, sel).catch(() => true);
  throw new Error(sel + ': waited for "' + want + '" shown, ' + (hidden ? 'hidden' : 'shows') + ' "' +
    (await page.textContent(sel).catch(() => '?')) + '" (' + e.message + ')');
});
async function go(page, view) {
  await page.click('nav a[data-view="' + view + '"]');
  await page.waitForFunction((v) => !document.getElementById(v).hidden, view, { timeout: DEADLINE });
}
async function shot(page, name) {
  await page.waitForTimeout(0);
  await page.screenshot({ path: shots + '/' + name + '.png', fullPage: true });
}
async function signIn(page, tok, role) {
  await page.goto(url + '/');
  await page.fill('#token', tok);
  await page.click('#signin-button');
  await page.waitForFunction((r) => document.querySelector('#who').textContent.includes('(' + r + ')'), role, { timeout: DEADLINE });
}
// Hostile text: never markup, and shown as typed.
async function noMarkup(page, where) {
  const bad = await page.evaluate((sel) => [...document.querySelectorAll(sel)].map((e) => e.tagName), where + ' img, ' + where + ' b, ' + where + ' script, ' + where + ' svg:not(.swatch):not(.chart)');
  if (bad.length) fail(where + ': hostile text became elements: ' + bad.join(','));
  if (await page.evaluate(() => window.__pwned)) fail('a hostile string ran script');
}

const admin = await context.newPage();
const aw = watch(admin, 'admin', [
  ['PATCH', /^\/api\/v1\/sensors\/[0-9a-f]{32}$/, 422], // the bad org, on purpose
  ['POST', /^\/api\/v1\/blocklist$/, 400], ['POST', /^\/api\/v1\/blocklist$/, 422], // the bad address
  ['PUT', /^\/api\/v1\/server$/, 422], // shared-secret without a key
  ['POST', /^\/api\/v1\/users$/, 409], // the user twice
  ['POST', /^\/api\/v1\/queues$/, 400], ['POST', /^\/api\/v1\/queues$/, 422], // the bad sensor group
]);
try {
  await signIn(admin, token, 'admin');
  for (const id of ['#nav-users', '#nav-server']) if (await admin.isHidden(id)) fail('admin: ' + id + ' not offered');

  // ---- dashboard: graphs per type and per sensor drawn from the daily stats
  await admin.waitForFunction(() => document.querySelectorAll('#chart-types svg.chart rect').length > 0 &&
    document.querySelectorAll('#chart-sensors svg.chart rect').length > 0, null, { timeout: DEADLINE });
  const legend = await admin.textContent('#chart-types .legend');
  if (!legend.includes('8 (passivedns CSV)')) fail('dashboard type graph legend: ' + legend);
  await shot(admin, 'admin-dashboard');

  // ---- sensors: the connected one is shown connected, hostile description as text
  await go(admin, 'sensors');
  const crow = admin.locator('#sensor-table tbody tr', { hasText: C });
  await crow.waitFor({ timeout: DEADLINE });
  await admin.waitForFunction((u) => [...document.querySelectorAll('#sensor-table tbody tr')].some((tr) =>
    tr.cells[0].textContent === u && tr.cells[2].textContent.startsWith('connected')), C, { timeout: DEADLINE });
  const cells = await crow.locator('td').allTextContents();
  if (cells[3] !== env.D4_HOSTILE_DESC) fail('sensor list: description not shown as typed: ' + cells[3]);
  await noMarkup(admin, '#sensor-table');
  await crow.click();
  await visibleText(admin, '#sd-conn', 'connected since');
  // its open session, from the sessions API
  await admin.locator('#sd-sessions tbody tr', { hasText: 'open' }).waitFor({ timeout: DEADLINE });
  await admin.waitForFunction(() => document.querySelectorAll('#sd-chart svg.chart rect').length > 0, null, { timeout: DEADLINE });
  if ((await admin.textContent('#sd-desc')) !== env.D4_HOSTILE_DESC) fail('sensor detail: description not as typed');
  await noMarkup(admin, '#sensor-detail');
  if ((await admin.inputValue('#sd-e-desc')) !== env.D4_HOSTILE_DESC) fail('edit form: description not as stored');
  await shot(admin, 'admin-sensor');

  // edit: a refused value shows the API's detail next to Save and changes nothing
  await admin.fill('#sd-e-org', 'not-a-uuid');
  await admin.click('#sd-save');
  await visibleText(admin, '#sd-edit-error', 'default_org');
  if ((await sensor(C)).body.default_org !== null) fail('a refused edit was written');
  // then a good edit
  await admin.fill('#sd-e-org', '');
  await admin.fill('#sd-e-desc', 'edited in the page');
  await admin.selectOption('#sd-e-tlp', 'tlp:green');
  await admin.fill('#sd-e-silence', '600');
  await admin.click('#sd-save');
  await until('edit', '/api/v1/sensors/' + C, (r) => r.body.description === 'edited in the page' &&
    r.body.default_tlp === 'tlp:green' && r.body.silence_threshold === 600 && r.body.default_org === null);
  await visibleText(admin, '#sd-desc', 'edited in the page');
  if ((await admin.textContent('#sd-edit-error')) !== '') fail('edit: the old error stayed');

  // kick with a ban: cancelled, then confirmed; the sensor is disconnected and banned
  await admin.fill('#sd-kick-ban', '3600');
  const kmsg = await cancelled(admin, aw, () => admin.click('#sd-kick'), 'kick');
  if (!kmsg.includes('3600')) fail('kick confirmation does not name the ban: ' + kmsg);
  if ((await sensor(C)).body.ban_until !== null || !(await sensor(C)).body.connected) fail('a cancelled kick kicked');
  await confirmed(admin, () => admin.click('#sd-kick'));
  const kicked = await until('kick', '/api/v1/sensors/' + C, (r) => r.body.ban_until !== null && r.body.connected === false);
  const ban = (Date.parse(kicked.body.ban_until) - Date.now()) / 1000;
  if (ban < 3500 || ban > 3700) fail('kick: ban until ' + kicked.body.ban_until + ' is not an hour ahead');
  await visibleText(admin, '#sd-conn', 'not connected');
  await visibleText(admin, '#sd-ban', kicked.body.ban_until.replace('T', ' ').replace('Z', ''));
  await admin.locator('#sensor-table tbody tr', { hasText: C }).locator('td').nth(2).filter({ hasText: 'not connected' }).waitFor({ timeout: DEADLINE });

  // block (confirmed after a cancel), then unblock
  await cancelled(admin, aw, () => admin.click('#sd-actions [data-act="block"]'), 'block');
  if ((await sensor(C)).body.status !== 'approved') fail('a cancelled block blocked');
  await confirmed(admin, () => admin.click('#sd-actions [data-act="block"]'));
  await until('block', '/api/v1/sensors/' + C, (r) => r.body.status === 'blocked');
  await visibleText(admin, '#sd-status', 'blocked');
  if (await admin.isVisible('#sd-actions [data-act="block"]')) fail('Block offered for a blocked sensor');
  await admin.click('#sd-actions [data-act="unblock"]');
  await until('unblock', '/api/v1/sensors/' + C, (r) => r.body.status === 'approved');
  await visibleText(admin, '#sd-status', 'approved');

  // rotate a key: cancelled, then shown once; the new key delivers data
  await admin.locator('#sensor-table tbody tr', { hasText: D }).click();
  await visibleText(admin, '#sd-uuid', D);
  await cancelled(admin, aw, () => admin.click('#sd-actions [data-act="rotate"]'), 'rotate');
  if (await admin.isVisible('#sd-secret')) fail('a cancelled rotation shows a key');
  await confirmed(admin, () => admin.click('#sd-actions [data-act="rotate"]'));
  await admin.locator('#sd-secret-value').waitFor({ state: 'visible', timeout: DEADLINE });
  const newKey = await admin.textContent('#sd-secret-value');
  if (!/^[0-9a-f]{64}$/.test(newKey)) fail('rotate: the key shown is ' + newKey);
  await shot(admin, 'admin-sensor-rotated');
  const argv = JSON.parse(env.D4_SENSOR_ARGS).map((a) => (a === 'KEY' ? newKey : a));
  execFileSync(argv[0], argv.slice(1), { stdio: 'inherit', timeout: 60000 });
  await until('the rotated key delivers', '/api/v1/sensors/' + D, (r) => r.body.packets > 0);
  await admin.click('#sd-secret-hide');
  if ((await admin.textContent('#sd-secret-value')) !== '' || await admin.isVisible('#sd-secret')) fail('the key is still in the page');
  // delete: cancelled, then confirmed
  await cancelled(admin, aw, () => admin.click('#sd-actions [data-act="delete"]'), 'delete');
  if ((await sensor(D)).status !== 200) fail('a cancelled delete deleted');
  await confirmed(admin, () => admin.click('#sd-actions [data-act="delete"]'));
  await until('delete', '/api/v1/sensors/' + D, (r) => r.status === 404);
  await admin.locator('#sensor-table tbody tr', { hasText: D }).waitFor({ state: 'detached', timeout: DEADLINE });
  if (!(await admin.isHidden('#sensor-detail'))) fail('the deleted sensor is still shown');

  // ---- pending: mail and date, hostile mail as text; approve, refuse, refuse and block
  await go(admin, 'pending');
  const prow = (u) => admin.locator('#pending-table tbody tr', { hasText: u });
  await prow(P3).waitFor({ timeout: DEADLINE });
  const p1cells = await prow(P1).locator('td').allTextContents();
  if (p1cells[1] !== env.D4_HOSTILE_MAIL || p1cells[2] !== env.D4_HOSTILE_DESC || !/^\d{4}-\d\d-\d\d /.test(p1cells[3]))
    fail('pending row: ' + p1cells.join(' | '));
  if ((await prow(P2).locator('td').nth(1).textContent()) !== 'second@example.org') fail('pending: mail of ' + P2);
  await noMarkup(admin, '#pending-table');
  await shot(admin, 'admin-pending');
  const rmsg = await cancelled(admin, aw, () => prow(P2).locator('button', { hasText: /^Refuse$/ }).click(), 'refuse');
  if (!rmsg.includes('second@example.org')) fail('refuse confirmation does not name the mail: ' + rmsg);
  if ((await sensor(P2)).body?.status !== 'pending') fail('a cancelled refusal refused');
  await confirmed(admin, () => prow(P2).locator('button', { hasText: /^Refuse$/ }).click());
  await until('refuse', '/api/v1/sensors/' + P2, (r) => r.status === 404);
  await prow(P2).waitFor({ state: 'detached', timeout: DEADLINE });
  await cancelled(admin, aw, () => prow(P3).locator('button', { hasText: 'Refuse and block' }).click(), 'refuse and block');
  await confirmed(admin, () => prow(P3).locator('button', { hasText: 'Refuse and block' }).click());
  await until('refuse and block', '/api/v1/sensors/' + P3, (r) => r.body?.status === 'blocked');
  await prow(P1).locator('button', { hasText: 'Approve' }).click();
  await until('approve', '/api/v1/sensors/' + P1, (r) => r.body?.status === 'approved');
  await visibleText(admin, '#pending-empty', 'Nothing yet');

  // ---- types: refusing asks first; accepting again does not
  await go(admin, 'types');
  await admin.locator('#type-4').waitFor({ timeout: DEADLINE });
  const tmsg = await cancelled(admin, aw, () => admin.click('#type-4'), 'refuse type');
  if (!tmsg.includes('type 4')) fail('type confirmation: ' + tmsg);
  if (!(await admin.isChecked('#type-4'))) fail('a cancelled refusal unchecked the type');
  if (!(await apiGet('/api/v1/types')).body.accepted.includes(4)) fail('a cancelled refusal refused type 4');
  await confirmed(admin, () => admin.click('#type-4'));
  await until('refuse type 4', '/api/v1/types', (r) => !r.body.accepted.includes(4));
  await admin.waitForFunction(() => !document.querySelector('#type-4').checked, null, { timeout: DEADLINE });
  await admin.click('#type-4');
  await until('accept type 4', '/api/v1/types', (r) => r.body.accepted.includes(4));
  // extended types
  await admin.fill('#ext-name', 'web-ext');
  await admin.click('#ext-add');
  await until('add ext type', '/api/v1/types', (r) => r.body.ext_types.includes('web-ext'));
  await admin.locator('#ext-list li', { hasText: 'web-ext' }).waitFor({ timeout: DEADLINE });
  await shot(admin, 'admin-types');
  const emsg = await cancelled(admin, aw, () => admin.locator('#ext-list li', { hasText: 'web-ext' }).locator('button').click(), 'remove ext type');
  if (!emsg.includes('every extended type is accepted')) fail('removing the last ext type does not warn: ' + emsg);
  await confirmed(admin, () => admin.locator('#ext-list li', { hasText: 'web-ext' }).locator('button').click());
  await until('remove ext type', '/api/v1/types', (r) => !r.body.ext_types.includes('web-ext'));

  // ---- blocklist: a refused value shows the detail next to the form; add, remove
  await go(admin, 'blocklist');
  await visibleText(admin, '#block-empty', 'Nothing blocked');
  await admin.fill('#block-value', '300.1.2.3');
  await admin.click('#block-add');
  await admin.waitForFunction(() => document.querySelector('#block-error').textContent.length > 0, null, { timeout: DEADLINE });
  console.log('refused block:', await admin.textContent('#block-error'));
  await admin.fill('#block-value', '192.0.2.0/24');
  await admin.click('#block-add');
  await until('block add', '/api/v1/blocklist', (r) => r.body.items.some((b) => b.value === '192.0.2.0/24'));
  const brow = admin.locator('#block-table tbody tr', { hasText: '192.0.2.0/24' });
  await brow.waitFor({ timeout: DEADLINE });
  if ((await admin.textContent('#block-error')) !== '') fail('blocklist: the old error stayed');
  await shot(admin, 'admin-blocklist');
  await brow.locator('button', { hasText: 'Remove' }).click();
  await until('block remove', '/api/v1/blocklist', (r) => !r.body.items.some((b) => b.value === '192.0.2.0/24'));

  // ---- users and tokens
  await go(admin, 'users');
  await admin.locator('#user-table tbody tr', { hasText: 'viewer' }).waitFor({ timeout: DEADLINE });
  await admin.fill('#u-name', 'alice');
  await admin.selectOption('#u-role', 'user');
  await admin.fill('#u-label', 'laptop');
  await admin.click('#u-create');
  await admin.locator('#u-secret-value').waitFor({ state: 'visible', timeout: DEADLINE });
  const t1 = await admin.textContent('#u-secret-value');
  if (!/^d4h_[A-Za-z0-9_-]{43}$/.test(t1)) fail('new user token: ' + t1);
  const me = await apiGet('/api/v1/me', t1);
  if (me.status !== 200 || me.body.user !== 'alice' || me.body.role !== 'user') fail('the token shown does not work: ' + JSON.stringify(me));
  const arow = admin.locator('#user-table tbody tr', { hasText: 'alice' });
  await arow.locator('li', { hasText: 'laptop' }).waitFor({ timeout: DEADLINE });
  // the same name again: refused, the detail next to the form
  await admin.click('#u-secret-hide');
  await admin.fill('#u-name', 'alice');
  await admin.click('#u-create');
  await admin.waitForFunction(() => document.querySelector('#u-error').textContent.length > 0, null, { timeout: DEADLINE });
  console.log('refused user:', await admin.textContent('#u-error'));
  // a second token through the prompt
  await confirmed(admin, () => arow.locator('button', { hasText: 'New token' }).click(), 'phone');
  await admin.locator('#u-secret-value').waitFor({ state: 'visible', timeout: DEADLINE });
  const t2 = await admin.textContent('#u-secret-value');
  if (t2 === t1 || (await apiGet('/api/v1/me', t2)).status !== 200) fail('second token');
  await arow.locator('li', { hasText: 'phone' }).waitFor({ timeout: DEADLINE });
  await shot(admin, 'admin-users');
  // revoke it: cancelled (it still works), then confirmed (refused)
  const phone = arow.locator('li', { hasText: 'phone' });
  await cancelled(admin, aw, () => phone.locator('button', { hasText: 'Revoke' }).click(), 'revoke');
  if ((await apiGet('/api/v1/me', t2)).status !== 200) fail('a cancelled revocation revoked');
  await confirmed(admin, () => phone.locator('button', { hasText: 'Revoke' }).click());
  await until('revoke', '/api/v1/me', (r) => r.status === 401, t2);
  if ((await apiGet('/api/v1/me', t1)).status !== 200) fail('revoking one token revoked the other');
  await phone.waitFor({ state: 'detached', timeout: DEADLINE });
  // delete the user: cancelled, then confirmed
  await cancelled(admin, aw, () => arow.locator('button', { hasText: 'Delete user' }).click(), 'delete user');
  if ((await apiGet('/api/v1/me', t1)).status !== 200) fail('a cancelled delete deleted the user');
  await confirmed(admin, () => arow.locator('button', { hasText: 'Delete user' }).click());
  await until('delete user', '/api/v1/users', (r) => !r.body.items.some((u) => u.name === 'alice'));
  if ((await apiGet('/api/v1/me', t1)).status !== 401) fail('a deleted user\'s token still works');
  await arow.waitFor({ state: 'detached', timeout: DEADLINE });
  // leaving the view forgets a secret still shown
  await confirmed(admin, () => admin.locator('#user-table tbody tr', { hasText: 'viewer' }).locator('button', { hasText: 'New token' }).click(), '');
  await admin.locator('#u-secret-value').waitFor({ state: 'visible', timeout: DEADLINE });
  await go(admin, 'server');
  if ((await admin.textContent('#u-secret-value')) !== '') fail('a token stayed in the page after leaving the view');

  // ---- server mode: a refused switch shows the detail; cancelled; confirmed both ways
  await visibleText(admin, '#srv-mode', 'registration');
  await admin.selectOption('#srv-new-mode', 'shared-secret');
  await confirmed(admin, () => admin.click('#srv-switch'));
  await visibleText(admin, '#srv-error', 'shared');
  if ((await apiGet('/api/v1/server')).body.mode !== 'registration') fail('a refused switch switched');
  await admin.fill('#srv-new-key', 'a shared key set in the page');
  const smsg = await cancelled(admin, aw, () => admin.click('#srv-switch'), 'server mode');
  if (!smsg.includes('shared-secret')) fail('mode confirmation: ' + smsg);
  if ((await apiGet('/api/v1/server')).body.mode !== 'registration') fail('a cancelled switch switched');
  await confirmed(admin, () => admin.click('#srv-switch'));
  await until('switch to shared-secret', '/api/v1/server', (r) => r.body.mode === 'shared-secret' && r.body.shared_key_set && r.body.mode_source === 'runtime');
  await visibleText(admin, '#srv-mode', 'shared-secret');
  if ((await admin.inputValue('#srv-new-key')) !== '') fail('the shared key stayed in the form');
  await shot(admin, 'admin-server');
  await admin.selectOption('#srv-new-mode', 'registration');
  await confirmed(admin, () => admin.click('#srv-switch'));
  await until('switch back', '/api/v1/server', (r) => r.body.mode === 'registration');

  // ---- queues: a refused create shows the detail next to the form; a delete asks first
  await go(admin, 'queues');
  await admin.fill('#queue-name', 'web-q');
  await admin.fill('#queue-type', '8');
  await admin.fill('#queue-sensors', 'not-a-uuid');
  await admin.click('#queue-create');
  await admin.waitForFunction(() => document.querySelector('#queue-error').textContent.length > 0, null, { timeout: DEADLINE });
  console.log('refused queue:', await admin.textContent('#queue-error'));
  await admin.fill('#queue-sensors', '');
  await admin.click('#queue-create');
  await until('queue created', '/api/v1/queues', (r) => r.body.items.some((q) => q.name === 'web-q'));
  const qrow = admin.locator('#queue-table tbody tr', { hasText: 'web-q' });
  await qrow.waitFor({ timeout: DEADLINE });
  if ((await admin.textContent('#queue-error')) !== '') fail('queues: the old error stayed');
  await cancelled(admin, aw, () => qrow.locator('button', { hasText: 'Delete' }).click(), 'delete queue');
  if (!(await apiGet('/api/v1/queues')).body.items.some((q) => q.name === 'web-q')) fail('a cancelled delete deleted the queue');
  await shot(admin, 'admin-queues');
  console.log('admin: every operator action done in the page and seen through the API');
} catch (e) {
  await admin.screenshot({ path: shots + '/failure-admin.png', fullPage: true }).catch(() => {});
  fail('admin: ' + e.message);
}

// ---- a user: every view, no admin control anywhere, nothing refused
const upage = await context.newPage();
const uw = watch(upage, 'user', []);
try {
  await signIn(upage, env.D4_USER_TOKEN, 'user');
  // an admin control offered: visible buttons, inputs, selects beyond the read-only ones
  const offered = (sel) => upage.evaluate((s) => [...document.querySelectorAll(s)].filter((e) => e.offsetParent !== null)
    .map((e) => e.id || e.textContent.trim() || e.tagName), sel);
  const readOnly = '#sensor-filter, #dash-metric, #sd-metric';
  for (const id of ['#nav-users', '#nav-server', '#nav-partners']) if (!(await upage.isHidden(id))) fail('user: ' + id + ' offered');
  await upage.waitForFunction(() => document.querySelectorAll('#chart-types svg.chart rect').length > 0, null, { timeout: DEADLINE });
  await shot(upage, 'user-dashboard');
  await go(upage, 'sensors');
  // the approved registration's hostile description, as text
  const hrow = upage.locator('#sensor-table tbody tr', { hasText: P1 });
  await hrow.waitFor({ timeout: DEADLINE });
  if ((await hrow.locator('td').nth(3).textContent()) !== env.D4_HOSTILE_DESC) fail('user: hostile description not as typed');
  await noMarkup(upage, '#sensor-table');
  await upage.locator('#sensor-table tbody tr', { hasText: C }).click();
  await visibleText(upage, '#sd-uuid', C);
  await upage.waitForFunction(() => document.querySelectorAll('#sd-chart svg.chart rect').length > 0, null, { timeout: DEADLINE });
  let o = await offered('#sensors button, #sensors input, #sensors select:not(' + readOnly.replace(/, /g, '):not(') + ')');
  if (o.length) fail('user: sensor controls offered: ' + o.join(', '));
  await shot(upage, 'user-sensor');
  await go(upage, 'pending');
  // a pending sensor for the user to see (registered meanwhile is not needed: the empty state is shown)
  await visibleText(upage, '#pending-empty', 'Nothing yet');
  await shot(upage, 'user-pending');
  await go(upage, 'blocklist');
  o = await offered('#blocklist button, #blocklist input, #blocklist select');
  if (o.length) fail('user: blocklist controls offered: ' + o.join(', '));
  await shot(upage, 'user-blocklist');
  await go(upage, 'types');
  await upage.locator('#types-table tbody tr', { hasText: 'passivedns CSV' }).waitFor({ timeout: DEADLINE });
  o = await offered('#types button, #types input');
  if (o.length) fail('user: type controls offered: ' + o.join(', '));
  const acc = await upage.locator('#types-table tbody tr', { hasText: 'passivedns CSV' }).locator('td').nth(2).textContent();
  if (acc !== 'yes') fail('user: type 8 shown as ' + acc);
  await shot(upage, 'user-types');
  await go(upage, 'queues');
  await upage.locator('#queue-table tbody tr', { hasText: 'web-q' }).waitFor({ timeout: DEADLINE });
  o = await offered('#queues input, #queues button');
  if (o.some((x) => x !== 'Preview')) fail('user: queue controls offered: ' + o.join(', '));
  await shot(upage, 'user-queues');
  // admin views by URL: not shown, the dashboard instead, and nothing asked of their API
  for (const v of ['users', 'server']) {
    await upage.goto(url + '/#' + v);
    await upage.waitForFunction(() => !document.querySelector('#dashboard').hidden, null, { timeout: DEADLINE });
    if (!(await upage.isHidden('#' + v))) fail('user: the ' + v + ' view is shown');
  }
  if (uw.mutations.length) fail('user: the page sent ' + uw.mutations.join(', '));
  if (uw.errors.length) fail('errors in the user page: ' + uw.errors.join(' | '));
  console.log('user: no admin control in any view');
} catch (e) {
  await upage.screenshot({ path: shots + '/failure-user.png', fullPage: true }).catch(() => {});
  fail('user: ' + e.message);
}
// ---- a sensor_register token: told what it is for, not signed in
const rpage = await context.newPage();
const rw = watch(rpage, 'register', []);
try {
  await rpage.goto(url + '/');
  await rpage.fill('#token', env.D4_REGISTER_TOKEN);
  await rpage.click('#signin-button');
  await visibleText(rpage, '#signin-error', 'can only register sensors');
  if (!(await rpage.isHidden('#nav')) || (await rpage.evaluate(() => sessionStorage.getItem('d4hub-token'))) !== null)
    fail('register: signed in');
  if (rw.errors.length) fail('errors in the register page: ' + rw.errors.join(' | '));
} catch (e) {
  fail('register: ' + e.message);
}
if (aw.errors.length) fail('errors in the admin page: ' + aw.errors.join(' | '));
await browser.close();
