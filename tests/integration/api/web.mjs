// Drives Debian's chromium (headless, through playwright-core) against a real
// d4hub: sign in with a token, approve a pending sensor, run d4-sensor, and see
// the sensor's packet counter move on the page; see the federation partners and
// manage one through the page (create, refused create, enable/disable, rules,
// dry run, delete), each change checked through the API; a `user` is offered none of it.
// Usage: node web.mjs URL TOKEN UUID SCREENSHOT_DIR  (env D4_SENSOR_ARGS: JSON argv of the d4-sensor run,
// D4_PARTNER: a partner the page must list; D4_NEW_PARTNER: JSON {url, hub, org, ca} of the partner
// to create in the page (ca: a PEM file); D4_USER_TOKEN: a token of role user)
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const [url, token, uuid, shots] = process.argv.slice(2);
const sensorArgv = JSON.parse(process.env.D4_SENSOR_ARGS || '[]');
const fail = (msg) => { console.error('FAIL: ' + msg); process.exitCode = 1; };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // As root in CI; the machine has no network: keep chromium from trying.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
// The hub's certificate comes from the test's own throw-away CA.
const context = await browser.newContext({ ignoreHTTPSErrors: true });
const page = await context.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(String(e)));
// Resource failures are judged by their responses below, not by chromium's console line.
page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
let expect401 = false;
let expect422 = null; // the one refusal a step provokes on purpose: [method, path]
page.on('response', (r) => {
  if (r.status() < 400) return;
  if (expect401 && r.status() === 401 && r.url().endsWith('/api/v1/me')) return;
  if (expect422 && r.status() === 422 && r.request().method() === expect422[0] && r.url() === url + expect422[1]) return;
  errors.push(r.status() + ' ' + r.request().method() + ' ' + r.url());
});
// The partners list: the row of NAME shows WANT in column COL.
const waitCell = (name, col, want) => page.waitForFunction(([n, c, w]) => [...document.querySelectorAll('#partner-table tbody tr')]
  .some((tr) => tr.cells[0].textContent === n && tr.cells[c].textContent === w), [name, col, want], { timeout: 30000 })
  .catch(async (e) => {
    const cells = await page.locator('#partner-table tbody tr', { hasText: name }).first().locator('td').allTextContents()
      .catch(() => []);
    throw new Error('partner ' + name + ': column ' + col + ' should show "' + want + '", row: ' + cells.join(' | ') +
      ' (' + e.message + ')');
  });
// The API as a second witness of what the page did (not through the page).
async function apiGet(path) {
  const r = await context.request.get(url + path, { headers: { Authorization: 'Bearer ' + token } });
  return { status: r.status(), body: r.status() === 200 ? await r.json() : null };
}
const waitText = (sel, want) => page.waitForFunction(([s, w]) => {
  const el = document.querySelector(s);
  return el && !el.closest('[hidden]') && el.textContent.includes(w);
}, [sel, want], { timeout: 30000 }).catch(async (e) => {
  throw new Error(sel + ': waited for "' + want + '", shows "' + (await page.textContent(sel).catch(() => '?')) + '" ('
    + e.message + ')');
});
try {
  await page.goto(url + '/');
  // a wrong token is refused with a visible message
  expect401 = true;
  await page.fill('#token', 'd4h_not-a-valid-token');
  await page.click('#signin-button');
  await page.waitForFunction(() => document.querySelector('#signin-error').textContent.length > 0, null, { timeout: 30000 });
  expect401 = false;
  // sign in
  await page.fill('#token', token);
  await page.click('#signin-button');
  await page.waitForFunction(() => document.querySelector('#who').textContent.includes('admin'), null, { timeout: 30000 });
  console.log('signed in as', await page.textContent('#who'));

  // the pending registration is listed and approved with one click
  await page.click('nav a[data-view="pending"]');
  const pendingRow = page.locator('#pending-table tbody tr', { hasText: uuid });
  await pendingRow.waitFor({ timeout: 30000 });
  await pendingRow.locator('button', { hasText: 'Approve' }).click();
  await page.waitForFunction((u) => ![...document.querySelectorAll('#pending-table tbody tr')]
    .some((tr) => tr.textContent.includes(u)), uuid, { timeout: 30000 });
  console.log('approved', uuid);

  // the sensor's detail shows it approved, with no packets yet
  await page.click('nav a[data-view="sensors"]');
  const row = page.locator('#sensor-table tbody tr', { hasText: uuid });
  await row.waitFor({ timeout: 30000 });
  await row.click();
  await page.waitForFunction(() => (document.querySelector('#sd-status') || {}).textContent === 'approved', null, { timeout: 30000 });
  const before = (await page.textContent('#sd-packets')).trim();
  console.log('packets before:', before);
  if (before !== '0') fail('a new sensor should show 0 packets, shows ' + before);
  await page.screenshot({ path: shots + '/before.png', fullPage: true });

  // a real d4-sensor run delivers data; the page (refreshing every 5 s) shows the counter move
  execFileSync(sensorArgv[0], sensorArgv.slice(1), { stdio: 'inherit', timeout: 60000 });
  await page.waitForFunction(() => {
    const t = (document.querySelector('#sd-packets') || {}).textContent || '0';
    return Number(t.replace(/,/g, '')) > 0;
  }, null, { timeout: 40000 });
  const after = (await page.textContent('#sd-packets')).trim();
  console.log('packets after:', after);
  await page.screenshot({ path: shots + '/after.png', fullPage: true });

  // the dashboard lists the sensor's packets of today
  await page.click('nav a[data-view="dashboard"]');
  await page.locator('#today-sensors tbody tr', { hasText: uuid }).waitFor({ timeout: 30000 });
  // an admin sees the ingest mode (the test hub runs in registration mode from its config)
  await page.waitForFunction(() => document.querySelector('#server-mode').textContent === 'registration (config)', null,
    { timeout: 30000 });
  // an admin sees the federation partners and their status (read-only)
  const partner = process.env.D4_PARTNER;
  if (partner) {
    await page.click('nav a[data-view="partners"]');
    const prow = page.locator('#partner-table tbody tr', { hasText: partner });
    await prow.waitFor({ timeout: 30000 });
    const cells = await prow.locator('td').allTextContents();
    console.log('partner row:', cells.join(' | '));
    if (cells[1] !== 'partner' || cells[2] !== 'push' || cells[3] !== 'yes' || cells[5] !== '0' || cells[8] !== '0')
      fail('partner row: ' + cells.join(' | '));
    await prow.click();
    await page.locator('#pd-kinds tbody tr', { hasText: 'frames' }).waitFor({ timeout: 30000 });
    await page.screenshot({ path: shots + '/partners.png', fullPage: true });
  }

  // manage a partner through the page
  const np = process.env.D4_NEW_PARTNER ? JSON.parse(process.env.D4_NEW_PARTNER) : null;
  if (np) {
    const name = 'web-new';
    await page.click('nav a[data-view="partners"]');
    const example = JSON.parse(await page.inputValue('#pc-rules'));
    await page.fill('#pc-name', name);
    await page.fill('#pc-hub', np.hub);
    await page.fill('#pc-org', np.org);
    await page.selectOption('#pc-relation', 'partner');
    await page.selectOption('#pc-direction', 'both');
    await page.fill('#pc-ca', readFileSync(np.ca, 'utf8'));
    const pin = 'ab'.repeat(31) + '07'; // both anchors: the certificate must chain to the CA and carry this key
    await page.fill('#pc-pin', pin);
    // a URL the API refuses: its message, naming the member, next to the form; nothing created
    expect422 = ['POST', '/api/v1/partners'];
    await page.fill('#pc-url', np.url.replace('https://', 'http://'));
    await page.click('#pc-create');
    await waitText('#pc-error', 'url: https://');
    expect422 = null;
    console.log('refused create:', await page.textContent('#pc-error'));
    if ((await apiGet('/api/v1/partners/' + name)).status !== 404) fail('a refused create left a partner');
    // the same form with the URL fixed (and the prefilled rules): created, listed, sharing nothing
    await page.fill('#pc-url', np.url);
    await page.click('#pc-create');
    const nrow = page.locator('#partner-table tbody tr', { hasText: name });
    await nrow.waitFor({ timeout: 30000 });
    if ((await page.textContent('#pc-error')) !== '') fail('create: error shown: ' + (await page.textContent('#pc-error')));
    if ((await page.inputValue('#pc-name')) !== '') fail('create: the form was not reset');
    let got = await apiGet('/api/v1/partners/' + name);
    if (got.status !== 200) fail('created in the page, not in the API: ' + got.status);
    const d = got.body;
    if (d.url !== np.url || d.hub_uuid !== np.hub || d.org_uuid !== np.org || d.relation !== 'partner' ||
      d.direction !== 'both' || !d.has_ca || d.spki_sha256 !== pin || d.enabled !== true)
      fail('created partner: ' + JSON.stringify(d));
    for (const [k, rule] of Object.entries(d.outbound)) if (rule.enabled) fail('the example rules share ' + k);
    if (JSON.stringify(d.outbound.pdns.zones_deny) !== JSON.stringify(example.outbound.pdns.zones_deny) ||
      JSON.stringify(d.outbound.frames.types_allow) !== JSON.stringify(example.outbound.frames.types_allow) ||
      d.inbound.kinds.length !== 0 || d.inbound.max_tlp !== example.inbound.max_tlp)
      fail('the example rules were not applied: ' + JSON.stringify(d));
    let cells = await nrow.locator('td').allTextContents();
    console.log('new partner row:', cells.join(' | '));
    if (cells[1] !== 'partner' || cells[2] !== 'both' || cells[3] !== 'yes' || cells[4] !== '–')
      fail('new partner row: ' + cells.join(' | '));

    // its detail: the rules as the API holds them
    await nrow.click();
    await waitText('#pd-name', name);
    await page.waitForFunction(() => document.querySelector('#pd-rules').value.includes('"outbound"'), null,
      { timeout: 30000 });
    const rules = JSON.parse(await page.inputValue('#pd-rules'));
    if (JSON.stringify(rules) !== JSON.stringify({ outbound: d.outbound, inbound: d.inbound }))
      fail('rules shown: ' + JSON.stringify(rules));
    // the dry run: enabled, the tags sent, then the kind not shared
    // pdns: [rrname, rrtype, rdata] of a pDNS record, else a frame of type 8
    const dry = async (tags, want, decision = 'refuse', pdns = null) => {
      await page.selectOption('#pd-dry-kind', pdns ? 'pdns' : 'frames');
      await page.selectOption('#pd-dry-tlp', 'tlp:green');
      await page.fill('#pd-dry-tags', tags);
      if (pdns) {
        await page.fill('#pd-dry-rrname', pdns[0]);
        await page.fill('#pd-dry-rrtype', String(pdns[1]));
        await page.fill('#pd-dry-rdata', pdns[2]);
      }
      await page.evaluate(() => { document.querySelector('#pd-dry-reason').textContent = ''; });
      await page.click('#pd-dry-run');
      await waitText('#pd-dry-reason', want);
      const res = [await page.textContent('#pd-dry-decision'), await page.textContent('#pd-dry-reason'),
        await page.textContent('#pd-dry-text')];
      console.log('dry run (' + (pdns ? pdns.join(' ') : 'frames') + ', ' + (tags || 'no tags') + '):', res.join(' | '));
      if (res[0] !== decision || res[1] !== want || !res[2]) fail('dry run: ' + res.join(' | '));
      return res;
    };
    await dry('misp:should-not-sync', 'should-not-sync');
    await dry('', 'kind-not-shared');
    // edit the rules: a refusal naming the member next to the editor, then a change the API keeps
    rules.outbound.pdns.nets_allow = ['10.1.2.3/8'];
    expect422 = ['PATCH', '/api/v1/partners/' + name];
    await page.fill('#pd-rules', JSON.stringify(rules, null, 2));
    await page.click('#pd-rules-save');
    await waitText('#pd-rules-error', 'outbound.pdns.nets_allow[0]');
    expect422 = null;
    got = await apiGet('/api/v1/partners/' + name);
    if (got.body.outbound.pdns.nets_allow.length !== 0) fail('a refused rule was written');
    rules.outbound.pdns.nets_allow = [];
    rules.outbound.frames.enabled = true;
    rules.outbound.frames.types_allow = [8];
    rules.outbound.frames.max_tlp = 'tlp:green';
    rules.outbound.pdns.enabled = true;
    await page.fill('#pd-rules', JSON.stringify(rules, null, 2));
    await page.click('#pd-rules-save');
    await waitText('#status', 'rules of ' + name + ' saved');
    if ((await page.textContent('#pd-rules-error')) !== '') fail('rules: error shown after a good save');
    got = await apiGet('/api/v1/partners/' + name);
    if (!got.body.outbound.frames.enabled || JSON.stringify(got.body.outbound.frames.types_allow) !== '[8]' || got.body.outbound.frames.max_tlp !== 'tlp:green' ||
      !got.body.outbound.pdns.enabled || JSON.stringify(got.body.outbound.pdns.zones_deny) !== '["corp.example"]')
      fail('rules after the edit: ' + JSON.stringify(got.body.outbound));
    await waitCell(name, 4, 'frames, pdns');
    await dry('', 'released', 'release');
    await dry('', 'rdata-private', 'refuse', ['www.example.com', 1, '10.0.0.1']);
    await dry('', 'zone-filtered', 'refuse', ['a.corp.example', 1, '192.0.2.1']);
    await dry('', 'released', 'release', ['www.example.com', 1, '192.0.2.1']);

    // disable: the API says enabled false, the list says no, the dry run says partner-disabled
    await nrow.locator('button', { hasText: 'Disable' }).click();
    await waitCell(name, 3, 'no');
    got = await apiGet('/api/v1/partners/' + name);
    if (got.body.enabled !== false) fail('disabled in the page, enabled in the API');
    if (!got.body.outbound.frames.enabled || !got.body.outbound.pdns.enabled) fail('disable changed the rules');
    await dry('', 'partner-disabled');
    await page.screenshot({ path: shots + '/partner-managed.png', fullPage: true });
    // enable again, and disabled once more to delete it disabled
    await nrow.locator('button', { hasText: 'Enable' }).click();
    await waitCell(name, 3, 'yes');
    if ((await apiGet('/api/v1/partners/' + name)).body.enabled !== true) fail('enabled in the page, not in the API');

    // delete: a declined confirmation deletes nothing; an accepted one deletes it
    let dialogs = 0, deletes = 0;
    page.on('request', (r) => { if (r.method() === 'DELETE' && r.url().endsWith('/api/v1/partners/' + name)) deletes++; });
    page.once('dialog', (dl) => { dialogs++; dl.dismiss(); });
    await nrow.locator('button', { hasText: 'Delete' }).click();
    // a whole refresh of the list later, a DELETE sent on the click would have been seen
    await page.waitForResponse((r) => r.url() === url + '/api/v1/partners' && r.request().method() === 'GET',
      { timeout: 30000 });
    if (dialogs !== 1) fail('delete asked no confirmation');
    if (deletes !== 0 || (await apiGet('/api/v1/partners/' + name)).status !== 200) fail('a declined delete deleted');
    page.once('dialog', (dl) => { dialogs++; dl.accept(); });
    await nrow.locator('button', { hasText: 'Delete' }).click();
    await nrow.waitFor({ state: 'detached', timeout: 30000 });
    if (dialogs !== 2 || deletes !== 1) fail('the second delete: ' + dialogs + ' dialogs, ' + deletes + ' DELETE');
    if ((await apiGet('/api/v1/partners/' + name)).status !== 404) fail('deleted in the page, still in the API');
    if (!(await page.isHidden('#partner-detail'))) fail('the detail of a deleted partner is still shown');
    await page.locator('#partner-table tbody tr', { hasText: partner || 'web-p' }).waitFor({ timeout: 30000 });
    console.log('partner', name, 'created, edited, disabled, enabled, deleted in the page');
  }

  // a user: no partners view, no partner control, nothing asked of the partners API
  if (process.env.D4_USER_TOKEN) {
    const uctx = await browser.newContext({ ignoreHTTPSErrors: true });
    const upage = await uctx.newPage();
    upage.on('pageerror', (e) => errors.push('user: ' + String(e)));
    upage.on('request', (r) => { if (r.url().includes('/api/v1/partners')) errors.push('user: ' + r.method() + ' ' + r.url()); });
    upage.on('response', (r) => { if (r.status() >= 400) errors.push('user: ' + r.status() + ' ' + r.url()); });
    await upage.goto(url + '/#partners');
    await upage.fill('#token', process.env.D4_USER_TOKEN);
    await upage.click('#signin-button');
    await upage.waitForFunction(() => document.querySelector('#who').textContent.includes('(user)'), null, { timeout: 30000 });
    await upage.waitForFunction(() => !document.querySelector('#dashboard').hidden, null, { timeout: 30000 });
    const offered = await upage.evaluate(() => [...document.querySelectorAll('#nav-partners, #partners button, #partners input')]
      .filter((el) => el.offsetParent !== null).length);
    if (!(await upage.isHidden('#nav-partners')) || !(await upage.isHidden('#partners')) || offered !== 0)
      fail('a user is offered the partners view or its controls (' + offered + ' visible)');
    await uctx.close();
  }
  if (errors.length) fail('errors in the page: ' + errors.join(' | '));
} catch (e) {
  await page.screenshot({ path: shots + '/failure.png', fullPage: true }).catch(() => {});
  fail(e.message);
} finally {
  await browser.close();
}
