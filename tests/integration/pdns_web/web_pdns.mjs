// The passive-DNS view in Debian's chromium (headless, through playwright-core)
// against a real d4hub.
//   node web_pdns.mjs empty URL ADMIN_TOKEN DIR   a fresh hub: "nothing yet" in the pDNS,
//     backscatter and passive-SSL views, for an admin and a user (env D4_USER_TOKEN)
//   node web_pdns.mjs full URL ADMIN_TOKEN DIR    the data of web_pdns.sh (env D4_USER_TOKEN,
//     D4_T0). What the page shows is compared with the API's answer to the same query
//     (fetched by the test from inside the page, /dnsdb/v2 SAF lines) and with what the test
//     knows of its own data.
// Screenshots go to DIR.
import { chromium } from 'playwright-core';

const [mode, url, token, dir] = process.argv.slice(2);
const T0 = Number(process.env.D4_T0 || 0);
// a failure says what differs, cut to a readable length
const fail = (msg) => { console.error('FAIL: ' + (msg.length > 3000 ? msg.slice(0, 3000) + ' …' : msg)); process.exitCode = 1; };
const check = (cond, msg) => { if (!cond) fail(msg); };
const same = (got, want, what) => {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) fail(what + ': got ' + g + ', expected ' + w);
};
const T = 30000;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});

// A signed-in page on a view. Answers >= 400 are errors unless allowed(url,
// status) says the test asked for them; a dialog (an alert() run by hostile
// data) is an error.
async function open(tok, who, hash, allowed) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1300, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(who + ': ' + String(e)));
  page.on('dialog', (d) => { errors.push(who + ': a dialog opened: ' + d.message()); d.dismiss(); });
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
  page.on('response', (r) => {
    if (r.status() >= 400 && !(allowed && allowed(r.url(), r.status()))) errors.push(who + ': ' + r.status() + ' ' + r.url());
  });
  await page.goto(url + '/#' + hash);
  await page.fill('#token', tok);
  await page.click('#signin-button');
  const view = hash.split('/')[0];
  await page.waitForFunction((v) => !document.querySelector('#' + v).hidden, view, { timeout: T });
  return { ctx, page, errors, who };
}
async function done(o) {
  if (o.errors.length) fail(o.errors.join(' | '));
  await o.ctx.close();
}

// The API's SAF answer for a path, with the page's own token (the reference).
async function saf(page, path) {
  const r = await page.evaluate(async (p) => {
    const res = await fetch(p, { headers: { Authorization: 'Bearer ' + sessionStorage.getItem('d4hub-token') } });
    return { status: res.status, text: await res.text() };
  }, path);
  if (r.status !== 200) return { status: r.status, problem: JSON.parse(r.text) };
  const lines = r.text.split('\n').filter((l) => l).map((l) => JSON.parse(l));
  const end = lines[lines.length - 1];
  return { status: 200, objs: lines.filter((l) => l.obj).map((l) => l.obj), cond: end.cond, next: end.next_cursor };
}
// A search as the page sends it: KIND's lookup path, one RR per record.
const PATHS = { name: 'rrset/name/', rdata: 'rdata/name/', ip: 'rdata/ip/', raw: 'rdata/raw/' };
const LABELS = { name: 'name', rdata: 'name in rdata', ip: 'IP, network or range', raw: 'raw rdata (hex)' };
function apiPath(s, limit) {
  const q = new URLSearchParams({ aggr: 'f' });
  if (limit) q.set('limit', String(limit));
  if (s.rrtype) q.set('rrtype', s.rrtype);
  for (const [k, v] of Object.entries(s.api || {})) q.set(k, String(v));
  return '/dnsdb/v2/lookup/' + PATHS[s.kind] + encodeURIComponent(s.value.replace('/', ',')) + '?' + q;
}
const fmtT = (t) => new Date(t * 1000).toISOString().replace('.000', '').replace('T', ' ').replace('Z', ' UTC');
const rowOf = (o) => [o.rrname, o.rrtype, Array.isArray(o.rdata) ? o.rdata[0] : o.rdata, fmtT(o.time_first), fmtT(o.time_last),
  o.count.toLocaleString('en'), o.bailiwick || '–'].join('|');
const rowsOf = (page) => page.evaluate(() => [...document.querySelectorAll('#pdns-table tbody tr')]
  .map((tr) => [...tr.cells].map((c) => c.textContent).join('|')));
const text = (page, sel) => page.evaluate((s) => document.querySelector(s).textContent, sel);

// Waits until the results table holds exactly these rows, in this order.
async function waitRows(page, want, what) {
  const w = JSON.stringify(want);
  try {
    await page.waitForFunction((w) => {
      const t = document.querySelector('#pdns-table');
      if (document.querySelector('#pdns-results').hidden) return false;
      const got = [...t.querySelectorAll('tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent).join('|'));
      return JSON.stringify(got) === w && t.hidden === (got.length === 0);
    }, w, { timeout: T });
  } catch (e) {
    fail(what + ': rows ' + JSON.stringify(await rowsOf(page)) + ', expected ' + w);
  }
}

// Searches through the form: s = {kind (of the form: auto too), value, rrtype, fences: {inputId: text},
// api: {time_*: value the API gets}, limit}. Waits for the first page the API gives and checks it.
async function search(o, s) {
  const page = o.page;
  await page.selectOption('#pdns-kind', s.form || s.kind);
  await page.fill('#pdns-q', s.value);
  await page.fill('#pdns-rrtype', s.rrtype || '');
  await page.selectOption('#pdns-limit', String(s.limit || 50));
  for (const id of ['pdns-tfa', 'pdns-tfb', 'pdns-tla', 'pdns-tlb']) await page.fill('#' + id, (s.fences || {})[id] || '');
  await page.click('#pdns-go');
  const title = 'Search by ' + LABELS[s.kind] + ': ' + s.value + (s.rrtype ? ' (' + s.rrtype + ')' : '');
  await page.waitForFunction((t) => document.querySelector('#pdns-title').textContent === t &&
    !document.querySelector('#pdns-results').hidden, title, { timeout: T });
  const api = await saf(page, apiPath(s, s.limit || 50));
  same(api.status, 200, o.who + ' API answer for ' + s.value);
  await waitRows(page, api.objs.map(rowOf), o.who + ' search ' + s.kind + ' ' + s.value);
  check((await page.isHidden('#pdns-none')) === api.objs.length > 0, o.who + ' "no match" hint for ' + s.value);
  check((await page.isDisabled('#pdns-next')) === (api.cond !== 'limited'), o.who + ' next page offered iff the API has one (' + s.value + ')');
  check(await page.isHidden('#pdns-error') || (await text(page, '#pdns-error')) === '', o.who + ' an error next to the form for ' + s.value);
  return api;
}
// Every row of a query, unpaged (the hub's result cap is far above the data).
async function all(o, s) {
  const api = await saf(o.page, apiPath(s, 0));
  same(api.cond, 'succeeded', 'the whole answer of ' + s.value);
  return api.objs.map(rowOf);
}

// The analyst views on a fresh hub: words, not empty tables.
async function emptyViews(tok, who) {
  const o = await open(tok, who, 'pdns');
  const { page } = o;
  await page.waitForFunction(() => !document.querySelector('#pdns-nothing').hidden, null, { timeout: T });
  check((await text(page, '#pdns-nothing')).startsWith('Nothing yet'), who + ': pDNS empty state text');
  same(await text(page, '#pdns-n-tuples'), '0', who + ': records stored on a fresh hub');
  check(await page.isVisible('nav a[data-view="pdns"]'), who + ': no Passive DNS entry in the menu');
  // a search on an empty store: "no match", no empty table
  await search(o, { kind: 'name', value: 'www.example.com' });
  check(await page.isVisible('#pdns-none') && await page.isHidden('#pdns-table'), who + ': "no match" instead of an empty table');
  await page.screenshot({ path: dir + '/pdns-empty-' + who + '.png', fullPage: true });

  await page.click('nav a[data-view="backscatter"]');
  await page.waitForFunction(() => !document.querySelector('#bs-empty').hidden, null, { timeout: T });
  check((await text(page, '#bs-empty')).startsWith('Nothing yet'), who + ': backscatter empty state text');
  check(await page.isHidden('#bs-ongoing') && await page.isHidden('#bs-recent'), who + ': empty backscatter tables shown');
  check(await page.isVisible('#bs-ongoing-empty') && await page.isVisible('#bs-recent-empty'), who + ': backscatter empty hints');
  if (who === 'admin') {
    await page.waitForFunction(() => !document.querySelector('#bs-counters-empty').hidden, null, { timeout: T });
    check(await page.isHidden('#bs-counters'), who + ': an empty table of backscatter counters shown');
  }
  await page.screenshot({ path: dir + '/bs-empty-' + who + '.png', fullPage: true });

  await page.click('nav a[data-view="certificates"]');
  await page.waitForFunction(() => !document.querySelector('#ps-empty').hidden, null, { timeout: T });
  check((await text(page, '#ps-empty')).startsWith('Nothing yet'), who + ': passive-SSL empty state text');
  check(await page.isHidden('#ps-recent') && await page.isVisible('#ps-recent-empty'), who + ': empty table of recent certificates shown');
  if (who === 'admin') {
    await page.waitForFunction(() => !document.querySelector('#ps-counters-empty').hidden, null, { timeout: T });
    check(await page.isHidden('#ps-counters'), who + ': an empty table of passive-SSL counters shown');
  }
  await page.screenshot({ path: dir + '/pssl-empty-' + who + '.png', fullPage: true });
  await done(o);
}

try {
  if (mode === 'empty') {
    await emptyViews(token, 'admin');
    await emptyViews(process.env.D4_USER_TOKEN, 'user');
    console.log('fresh hub: "nothing yet" in the pDNS, backscatter and passive-SSL views for both roles');
  } else {
    // the malformed queries this test sends on purpose
    const allowed = (u, st) => st === 400 && (u.includes('/a..b.test') || u.includes('192.0.2.0%2C33'));
    const o = await open(token, 'admin', 'pdns', allowed);
    const { page } = o;
    await page.waitForFunction(() => document.querySelector('#pdns-n-tuples').textContent === '150', null, { timeout: T });
    check(await page.isHidden('#pdns-nothing'), '"nothing yet" shown with records');
    same(await text(page, '#pdns-clearance'), 'tlp:red', 'admin clearance');

    // a left-hand wildcard, 25 per page: every page against the API's whole answer
    const wild = { kind: 'name', form: 'auto', value: '*.web.test', limit: 25 };
    const want = await all(o, wild);
    same(want.length, 145, 'records below web.test for the admin');
    same(new Set(want).size, want.length, 'the API repeats a row');
    await search(o, wild);
    await page.screenshot({ path: dir + '/pdns-admin-page1.png', fullPage: true });
    same(await text(page, '#pdns-summary'), '145 records, seen from ' + fmtT(T0) + ' to ' + fmtT(T0 + 130500) + ' (' +
      (130 + [...Array(130).keys()].reduce((a, i) => a + ((i + 1) % 3 + 1), 0) + 10 + 5).toLocaleString('en') + ' observations)', 'summary');
    let got = await rowsOf(page);
    for (let p = 2; !(await page.isDisabled('#pdns-next')); p++) {
      await page.click('#pdns-next');
      const first = (p - 1) * 25 + 1;
      await page.waitForFunction((t) => document.querySelector('#pdns-page').textContent.startsWith(t), 'page ' + p + ', records ' + first + '–', { timeout: T });
      const rows = await rowsOf(page);
      same(rows, want.slice(first - 1, first - 1 + 25), 'page ' + p);
      got = got.concat(rows);
      if (p > 10) { fail('more than 10 pages'); break; }
    }
    await page.screenshot({ path: dir + '/pdns-admin-last-page.png', fullPage: true });
    same(got.length, 145, 'rows over all pages');
    same(new Set(got).size, got.length, 'a row shown twice over the pages');
    same(got, want, 'the pages together against the API\'s whole answer');
    same(await text(page, '#pdns-page'), 'page 6, records 126–145', 'the last page');
    await page.click('#pdns-prev');
    await waitRows(page, want.slice(100, 125), 'back to page 5');
    console.log('*.web.test: 6 pages of 25, 145 rows, none lost or doubled');

    // hostile text: a TXT and a name with markup, shown as text
    const txt = `"<script>document.title='pwned'</script><img src=x onerror="document.title='pwned'">"`;
    const ev = await search(o, { kind: 'name', form: 'name', value: 'evil.web.test' });
    same(ev.objs.map((x) => x.rdata[0]), [txt], 'the hostile TXT in the API');
    same(await text(page, '#pdns-summary'), '1 record, seen from ' + fmtT(T0) + ' to ' + fmtT(T0) + ' (1 observation)', 'summary of one record');
    same(await text(page, '#pdns-table tbody tr td:nth-child(3)'), txt, 'the hostile TXT in the page');
    same(await page.evaluate(() => document.querySelectorAll('#pdns-table script, #pdns-table img, #pdns-table i').length), 0,
      'elements made of hostile data');
    same(await page.title(), 'd4hub', 'the page\'s title after hostile data');
    await page.screenshot({ path: dir + '/pdns-admin-hostile.png', fullPage: true });
    // the markup name: found by the wildcard, its link pivots to itself
    await search(o, { kind: 'name', value: '*.web.test', rrtype: 'A', limit: 500 });
    same(await page.evaluate(() => document.querySelectorAll('#pdns-table i, #pdns-table b').length), 0, 'elements made of a hostile name');
    await page.click('#pdns-table a.pdns-rrname >> text="<i>x<i>.web.test."');
    await page.waitForFunction(() => location.hash === '#pdns/q/name/' + encodeURIComponent('<i>x<i>.web.test.'), null, { timeout: T });
    await waitRows(page, (await all(o, { kind: 'name', value: '<i>x<i>.web.test.' })), 'pivot to the hostile name');
    same((await rowsOf(page)).length, 1, 'rows of the hostile name');

    // right-hand wildcard, rdata name (passivedns's name-only MX), addresses, raw
    const rw = await search(o, { kind: 'name', form: 'auto', value: 'www.acme.*' });
    same(rw.objs.map((x) => x.rrname).sort(), ['www.acme.example.', 'www.acme.test.'], 'right-hand wildcard');
    const mx = await search(o, { kind: 'rdata', value: 'mail.web.test' });
    same(mx.objs.map((x) => x.rrname + ' ' + x.rrtype + ' ' + x.rdata), ['web.test. MX mail.web.test.'], 'rdata name');
    // the target inside a full MX is a pivot of its own, the preference stays text
    const mxs = await search(o, { kind: 'name', value: 'web.test', rrtype: 'MX' });
    same(mxs.objs.map((x) => x.rdata[0]).sort(), ['10 mx2.web.test.', 'mail.web.test.'], 'the MX of web.test');
    same(await page.evaluate(() => [...document.querySelectorAll('#pdns-table a.pdns-rdata-name')].map((a) => a.parentNode.textContent + '|' + a.textContent)),
      ['10 mx2.web.test.|mx2.web.test.'], 'the name inside a full MX');
    await page.click('#pdns-table a.pdns-rdata-name >> text="mx2.web.test."');
    await page.waitForFunction(() => location.hash === '#pdns/q/name/mx2.web.test.' && !document.querySelector('#pdns-none').hidden, null, { timeout: T });
    same(await page.inputValue('#pdns-rrtype'), '', 'a pivot keeps no filter');
    const cidr = await search(o, { kind: 'ip', form: 'auto', value: '192.0.2.0/26', limit: 100 });
    same(cidr.objs.length, 63, 'records in 192.0.2.0/26');
    await page.screenshot({ path: dir + '/pdns-admin-cidr.png', fullPage: true });
    const range = await search(o, { kind: 'ip', form: 'auto', value: '192.0.2.10-192.0.2.19' });
    same(range.objs.map((x) => x.rdata), [...Array(10).keys()].map((i) => '192.0.2.' + (i + 10)), 'a range');
    const v6 = await search(o, { kind: 'ip', form: 'ip', value: '2001:db8::/120' });
    same(v6.objs.length, 10, 'records in 2001:db8::/120');
    const one = await search(o, { kind: 'ip', form: 'auto', value: '192.0.2.7' });
    same(one.objs.map((x) => x.rrname), ['h7.web.test.'], 'one address');
    const raw = await search(o, { kind: 'raw', value: 'c0000201' });
    same(raw.objs.map((x) => x.rrname + ' ' + x.rdata), ['h1.web.test. 192.0.2.1'], 'raw rdata');

    // time fences: last seen in [T0+60000, T0+69999] (dates), first seen in [T0+100000, T0+104000]
    const date = (t) => new Date(t * 1000).toISOString().slice(0, 19).replace('T', ' ');
    const tl = await search(o, { kind: 'name', value: '*.web.test', rrtype: 'A', limit: 100,
      fences: { 'pdns-tla': date(T0 + 60000), 'pdns-tlb': date(T0 + 69999) },
      api: { time_last_after: T0 + 60000, time_last_before: T0 + 69999 } });
    same(tl.objs.map((x) => x.rrname).sort(), [...Array(10).keys()].map((i) => 'h' + (60 + i) + '.web.test.').sort(), 'last-seen fences');
    await page.screenshot({ path: dir + '/pdns-admin-fences.png', fullPage: true });
    // the search is in the URL: a reload shows it again, its filters in the form
    const bookmark = page.url();
    await page.reload();
    await page.waitForFunction(() => !document.querySelector('#pdns-results').hidden, null, { timeout: T });
    await waitRows(page, tl.objs.map(rowOf), 'the fenced search after a reload');
    same(await page.evaluate(() => ['#pdns-q', '#pdns-rrtype', '#pdns-tla', '#pdns-tlb', '#pdns-tfa', '#pdns-limit']
      .map((s) => document.querySelector(s).value)), ['*.web.test', 'A', date(T0 + 60000), date(T0 + 69999), '', '100'], 'the form after a reload');
    const tf = await search(o, { kind: 'name', value: '*.web.test', fences: { 'pdns-tfa': String(T0 + 100000), 'pdns-tfb': date(T0 + 104000) },
      api: { time_first_after: T0 + 100000, time_first_before: T0 + 104000 } });
    same(tf.objs.map((x) => x.rrname).sort(), [...Array(5).keys()].map((i) => 'h' + (100 + i) + '.web.test.').sort(), 'first-seen fences');
    const rel = await search(o, { kind: 'name', value: '*.web.test', fences: { 'pdns-tla': '-7d' }, api: { time_last_after: -604800 } });
    same(rel.objs.length, 0, 'nothing last seen in the last 7 days');
    check(await page.isVisible('#pdns-none') && await page.isHidden('#pdns-table'), '"no match" for a relative fence');

    // errors next to the form: the API's 400 problem, and a fence the page cannot read
    for (const [kind, value, path] of [['name', 'a..b.test', '/dnsdb/v2/lookup/rrset/name/a..b.test?aggr=f&limit=50'],
      ['auto', '192.0.2.0/33', '/dnsdb/v2/lookup/rdata/ip/192.0.2.0%2C33?aggr=f&limit=50']]) {
      const p = await saf(page, path);
      same(p.status, 400, 'the API on ' + value);
      await page.selectOption('#pdns-kind', kind);
      await page.fill('#pdns-q', value);
      for (const id of ['pdns-rrtype', 'pdns-tfa', 'pdns-tfb', 'pdns-tla', 'pdns-tlb']) await page.fill('#' + id, '');
      await page.click('#pdns-go');
      try {
        await page.waitForFunction((d) => document.querySelector('#pdns-error').textContent === d, p.problem.detail, { timeout: T });
      } catch (e) { fail('error for ' + value + ': "' + (await text(page, '#pdns-error')) + '", expected "' + p.problem.detail + '"'); }
      check(await page.isHidden('#pdns-results'), 'results shown with the error for ' + value);
      const near = await page.evaluate(() => document.querySelector('#pdns-form').nextElementSibling.id);
      same(near, 'pdns-error', 'where the error is');
      if (kind === 'name') await page.screenshot({ path: dir + '/pdns-admin-error.png', fullPage: true });
    }
    await page.fill('#pdns-q', '*.web.test');
    await page.fill('#pdns-tla', 'yesterday');
    await page.click('#pdns-go');
    await page.waitForFunction(() => document.querySelector('#pdns-error').textContent.includes('is not a time'), null, { timeout: T });
    same(await text(page, '#pdns-error'), 'last seen after: "yesterday" is not a time (a UTC date like 2026-12-01 or 2026-12-01 14:30, '
      + 'epoch seconds, or relative like -7d, -12h)', 'a bad fence');

    // pivots: a CNAME's target, then an address; back walks them
    await page.fill('#pdns-tla', '');
    await search(o, { kind: 'name', value: 'alias.web.test' });
    await page.click('#pdns-table a.pdns-rdata >> text="h7.web.test."');
    await page.waitForFunction(() => location.hash === '#pdns/q/name/h7.web.test.', null, { timeout: T });
    const h7 = await all(o, { kind: 'name', value: 'h7.web.test.' });
    same(h7.length, 2, 'records of h7 (A and AAAA)');
    await waitRows(page, h7, 'pivot from the CNAME');
    same(await page.inputValue('#pdns-q'), 'h7.web.test.', 'the form after a pivot');
    await page.screenshot({ path: dir + '/pdns-admin-pivot.png', fullPage: true });
    await page.click('#pdns-table a.pdns-rdata >> text="192.0.2.7"');
    await page.waitForFunction(() => location.hash === '#pdns/q/ip/192.0.2.7', null, { timeout: T });
    await waitRows(page, await all(o, { kind: 'ip', value: '192.0.2.7' }), 'pivot from the address');
    await page.goBack();
    await waitRows(page, h7, 'back to the CNAME\'s target');
    await done(o);
    console.log('admin: wildcards, rdata name, IP/CIDR/range, raw, fences, errors, pivots, bookmark, hostile text');

    // a user: the view and the same searches, without the red record; a bookmark opens as it is
    const u = await open(process.env.D4_USER_TOKEN, 'user', bookmark.slice(bookmark.indexOf('#') + 1));
    await waitRows(u.page, tl.objs.map(rowOf), 'user: the admin\'s bookmark (no red record in it)');
    same(await text(u.page, '#pdns-clearance'), 'tlp:amber+strict', 'user clearance');
    check(await u.page.isVisible('nav a[data-view="pdns"]'), 'user: no Passive DNS entry in the menu');
    const uwild = await search(u, { kind: 'name', value: '*.web.test', limit: 500 });
    same(uwild.objs.length, 144, 'records below web.test for a user');
    same(uwild.objs.map(rowOf), want.filter((r) => !r.startsWith('secret.web.test.|')), 'user rows: the admin\'s without the red one');
    check(!(await rowsOf(u.page)).some((r) => r.startsWith('secret')), 'user: the red record shown');
    await u.page.screenshot({ path: dir + '/pdns-user.png', fullPage: true });
    const ured = await search(u, { kind: 'ip', value: '192.0.2.200' });
    same(ured.objs.length, 0, 'user: the red address');
    check(await u.page.isVisible('#pdns-none'), 'user: "no match" for the red address');
    await done(u);
    console.log('user: the view without the red record');
  }
} catch (e) {
  fail(e.stack || String(e));
} finally {
  await browser.close();
}
