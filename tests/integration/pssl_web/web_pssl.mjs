// The passive-SSL views (certificate search and detail) in Debian's chromium
// (headless, through playwright-core) against a real d4hub.
//   node web_pssl.mjs empty URL ADMIN_TOKEN DIR   an empty store: "nothing yet"
//   node web_pssl.mjs full URL ADMIN_TOKEN DIR    the data of web_pssl.sh (env D4_USER_TOKEN, D4_EXPECT:
//     web_pssl_data.py's expect.json). What the page shows is compared with the API's JSON for the
//     same query (fetched by the test from inside the page) and with what the test knows itself.
// Screenshots go to DIR.
import { chromium } from 'playwright-core';
import fs from 'node:fs';

const [mode, url, token, dir] = process.argv.slice(2);
const E = mode === 'full' ? JSON.parse(fs.readFileSync(process.env.D4_EXPECT, 'utf8')) : null;
const fail = (msg) => { console.error('FAIL: ' + msg); process.exitCode = 1; };
const check = (cond, msg) => { if (!cond) fail(msg); };
const same = (got, want, what) => {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) fail(what + ': got ' + g + ', expected ' + w);
};
const sorted = (a) => [...a].sort();
const T = 30000;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});

// A signed-in page on the certificates view. Answers >= 400 are errors unless
// allowed(url, status) says the test asked for them.
async function open(tok, who, allowed) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1300, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(who + ': ' + String(e)));
  page.on('dialog', (d) => { errors.push(who + ': a dialog opened: ' + d.message()); d.dismiss(); });
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
  page.on('response', (r) => {
    if (r.status() >= 400 && !(allowed && allowed(r.url(), r.status())) && !(process.env.D4_WEAK !== '1' && r.status() === 404 && r.url().includes('/api/v1/pssl/weak/'))) errors.push(who + ': ' + r.status() + ' ' + r.url());
  });
  await page.goto(url + '/#certificates');
  await page.fill('#token', tok);
  await page.click('#signin-button');
  await page.waitForFunction(() => !document.querySelector('#certificates').hidden, null, { timeout: T });
  return { ctx, page, errors, who };
}

// The API's JSON for a path, with the page's own token (the reference the page is compared with).
async function apiJson(page, path) {
  const r = await page.evaluate(async (p) => {
    const res = await fetch(p, { headers: { Authorization: 'Bearer ' + sessionStorage.getItem('d4hub-token') } });
    return { status: res.status, text: await res.text() };
  }, path);
  if (r.status !== 200) throw new Error('GET ' + path + ': ' + r.status + ' ' + r.text);
  return JSON.parse(r.text);
}
const rowsOf = (page, sel) => page.evaluate((s) => [...document.querySelectorAll(s + ' tbody tr')]
  .map((tr) => [...tr.cells].map((c) => c.textContent)), sel);

// Waits until the table holds exactly these rows (as key(row) strings, any order).
async function waitRows(page, sel, want, keyCols, what) {
  const w = JSON.stringify(sorted(want));
  try {
    await page.waitForFunction(([s, w, cols]) => {
      const t = document.querySelector(s);
      // an empty list is said in words: its table is hidden, not shown empty
      if (w === '[]') return Boolean(t) && t.querySelectorAll('tbody tr').length === 0 && Boolean(t.closest('[hidden]'));
      if (!t || t.hidden || t.closest('[hidden]')) return false;
      const got = [...t.querySelectorAll('tbody tr')].map((tr) => cols.map((i) => tr.cells[i].textContent).join('|')).sort();
      return JSON.stringify(got) === w;
    }, [sel, w, keyCols], { timeout: T });
  } catch (e) {
    const got = (await rowsOf(page, sel)).map((r) => keyCols.map((i) => r[i]).join('|'));
    fail(what + ': rows ' + JSON.stringify(sorted(got)) + ', expected ' + w);
  }
}

const KIND_LABEL = { sha256: 'certificate SHA-256', ip: 'IP or CIDR', name: 'DNS name', ja3: 'JA3', ja3s: 'JA3S', ja4: 'JA4',
  sni: 'SNI', spki: 'SPKI SHA-256', issuer: 'issuer' };
const TUPLE_KINDS = new Set(['ip', 'ja3', 'ja3s', 'ja4', 'sni']);
const tupleKey = (t) => t.server_ip + '|' + t.server_port + '|' + (t.cert || '–');
const TUPLE_COLS = [0, 1, 3];

// Searches through the form and waits for the first page the API gives for
// the same query; returns the API's page.
async function search(o, kind, value, choose) {
  const { page } = o;
  await page.selectOption('#ps-kind', choose === undefined ? kind : choose);
  await page.fill('#ps-q', value);
  await page.click('#ps-go');
  await page.waitForFunction((t) => document.querySelector('#ps-results-title').textContent === t &&
    !document.querySelector('#ps-results').hidden, 'Search by ' + KIND_LABEL[kind] + ': ' + value, { timeout: T });
  const path = '/api/v1/pssl/' + (TUPLE_KINDS.has(kind) ? 'tuples' : 'certs') + '?' + kind + '=' + encodeURIComponent(value) + '&limit=50';
  const api = await apiJson(page, path);
  if (TUPLE_KINDS.has(kind)) await waitRows(page, '#ps-tuples', api.items.map(tupleKey), TUPLE_COLS, o.who + ' search ' + kind + ' ' + value);
  else await waitRows(page, '#ps-certs', api.items.map((c) => c.sha1), [0], o.who + ' search ' + kind + ' ' + value);
  check((await page.isVisible(TUPLE_KINDS.has(kind) ? '#ps-tuples' : '#ps-certs')) === api.items.length > 0,
    'results table shown for ' + kind + ' iff it has rows');
  check((await page.isHidden('#ps-none')) === api.items.length > 0, 'the "no match" hint for ' + kind + ' ' + value);
  check((await page.isDisabled('#ps-next')) === !api.next_cursor, 'next page offered iff the API has one (' + kind + ')');
  return api;
}

async function openCert(o, sha1) {
  await o.page.goto(url + '/#certificates/cert/' + sha1);
  await o.page.waitForFunction((h) => document.querySelector('#ps-c-sha1').textContent === h &&
    !document.querySelector('#ps-cert').hidden && document.querySelector('#ps-c-servers-empty').hidden !==
    (document.querySelectorAll('#ps-c-servers tbody tr').length === 0), sha1, { timeout: T });
  return apiJson(o.page, '/api/v1/pssl/certs/' + sha1);
}
const text = (page, sel) => page.textContent(sel);

// The detail view against the certificate's JSON and the handshakes the API lists for it.
async function checkDetail(o, c) {
  const { page } = o;
  const what = o.who + ' detail ' + c.sha1 + ': ';
  same(await text(page, '#ps-c-subject'), c.subject || '–', what + 'subject');
  same(await text(page, '#ps-c-issuer'), c.issuer || '–', what + 'issuer');
  same(await text(page, '#ps-c-serial'), c.serial || '–', what + 'serial');
  same(await text(page, '#ps-c-f-sha1'), c.sha1, what + 'SHA-1');
  same(await text(page, '#ps-c-sha256'), c.sha256, what + 'SHA-256');
  same(await text(page, '#ps-c-spki'), c.spki_sha256 || '–', what + 'SPKI');
  same(await text(page, '#ps-c-tlp'), c.tlp, what + 'TLP');
  const keyName = { rsa: 'RSA', ec: 'EC', ed25519: 'Ed25519', dsa: 'DSA', other: 'other' }[c.key_type];
  same(await text(page, '#ps-c-key'), keyName + ' ' + c.key_bits + ' bits' + (c.curve ? ' ' + c.curve : ''), what + 'key');
  if (c.key_type === 'rsa') same(await text(page, '#ps-c-exponent'), BigInt('0x' + c.exponent).toString(), what + 'exponent');
  if (c.curve) same(await text(page, '#ps-c-curve'), c.curve, what + 'curve');
  const validity = await text(page, '#ps-c-validity');
  check(validity.startsWith(c.not_before.replace('T', ' ').replace('Z', ' UTC') + ' to ' +
    c.not_after.replace('T', ' ').replace('Z', ' UTC')), what + 'validity ' + validity);
  same(await page.$$eval('#ps-c-sans li a', (as) => as.map((a) => a.textContent)), c.san.map((s) => s.value), what + 'SANs');
  same(await page.$$eval('#ps-c-sans li a', (as) => as.map((a) => decodeURIComponent(a.getAttribute('href')))),
    c.san.map((s) => '#certificates/q/' + (s.type === 'ip' ? 'ip' : 'name') + '/' + s.value), what + 'SAN pivots');
  same((await rowsOf(page, '#ps-c-chain')).map((r) => r[1]), c.chain.map((e) => e.sha1), what + 'chain');
  // the handshakes with it: a page of 50, then "More handshakes" for the rest
  const serverKey = (t) => t.server_ip + '|' + t.server_port + '|' + (t.sni ? t.sni + (t.sni_cut ? ' (cut at 255 bytes)' : '') : '–');
  const first = await apiJson(page, '/api/v1/pssl/tuples?cert=' + c.sha1 + '&limit=50');
  await waitRows(page, '#ps-c-servers', first.items.map(serverKey), [0, 1, 2], what + 'served by');
  const tuples = await apiJson(page, '/api/v1/pssl/tuples?cert=' + c.sha1 + '&limit=1000');
  same(await page.isVisible('#ps-c-more'), Boolean(first.next_cursor), what + '"More handshakes" offered');
  if (first.next_cursor) {
    check(await page.isVisible('#ps-c-fps-partial'), what + 'fingerprints said to be partial');
    await page.click('#ps-c-more');
    await waitRows(page, '#ps-c-servers', tuples.items.map(serverKey), [0, 1, 2], what + 'served by, after More');
    check(await page.isHidden('#ps-c-more') && await page.isHidden('#ps-c-fps-partial'), what + 'everything read');
  }
  const fps = new Set();
  for (const t of tuples.items) for (const k of ['ja3', 'ja3s', 'ja4']) if (t[k]) fps.add(k.toUpperCase() + '|' + t[k]);
  same(sorted((await rowsOf(page, '#ps-c-fps')).map((r) => r[0] + '|' + r[1])), sorted(fps), what + 'fingerprints');
  return tuples.items;
}

try {
  if (mode === 'empty') {
    for (const [tok, who] of [[token, 'admin'], [process.env.D4_USER_TOKEN, 'user']]) {
      const o = await open(tok, who);
      await o.page.waitForFunction(() => !document.querySelector('#ps-empty').hidden, null, { timeout: T });
      check((await text(o.page, '#ps-empty')).includes('Nothing yet'), who + ': empty state text');
      check(await o.page.isVisible('#ps-recent-empty'), who + ': no "no certificate yet" hint');
      same((await rowsOf(o.page, '#ps-recent')).length, 0, who + ': recent rows on an empty store');
      check(await o.page.isHidden('#ps-recent'), who + ': an empty table of recent certificates is shown');
      // a search on an empty store: the table stays empty, "no match"
      await search(o, 'ip', '192.0.2.0/24');
      check(await o.page.isVisible('#ps-none'), who + ': "no match" on an empty store');
      await o.page.screenshot({ path: dir + '/pssl-empty-' + who + '.png', fullPage: true });
      if (o.errors.length) fail(o.errors.join(' | '));
      await o.ctx.close();
    }
    console.log('empty store: "nothing yet" for both roles');
  } else {
    const S = E.sha1;
    const allowedAdmin = (u, st) => (st === 400 && u.includes('ip=300.1.2.3')) || (st === 404 && u.includes('/certs/' + '0'.repeat(40)));
    const o = await open(token, 'admin', allowedAdmin);
    const { page } = o;
    // recent certificates: all of them, the clearance, no "nothing yet"
    const all = [...Object.values(S), ...E.capture_certs];
    const recentApi = await apiJson(page, '/api/v1/pssl/certs?limit=20');
    same(recentApi.items.length, all.length, 'the API lists every certificate');
    await waitRows(page, '#ps-recent', recentApi.items.map((c) => c.sha1), [0], 'admin recent');
    same(sorted(recentApi.items.map((c) => c.sha1)), sorted(all), 'recent = every certificate');
    check(await page.isHidden('#ps-empty'), '"nothing yet" shown with certificates');
    same(await text(page, '#ps-clearance'), 'tlp:red', 'admin clearance');
    const recent = await rowsOf(page, '#ps-recent');
    const oldRow = recent.find((r) => r[0] === S['old.test']), futRow = recent.find((r) => r[0] === S['future.test']);
    check(oldRow && oldRow[3].endsWith('(expired)'), 'expired marked in the list: ' + (oldRow && oldRow[3]));
    check(futRow && futRow[3].endsWith('(not yet valid)'), 'not yet valid marked in the list: ' + (futRow && futRow[3]));
    const hostRow = recent.find((r) => r[0] === S.hostile);
    same(hostRow && hostRow[1], E.hostile_cn, 'the hostile CN as text in the list');
    // the store's figures and the consumer's counters (admin), as the API gives them
    const info = await apiJson(page, '/api/v1/pssl/info');
    same(info.store.certs, all.length, 'certificates in the store');
    await page.waitForFunction((n) => document.querySelector('#ps-n-certs').textContent === n, info.store.certs.toLocaleString('en'),
      { timeout: T });
    const ctr = await apiJson(page, '/api/v1/pssl/counters');
    await waitRows(page, '#ps-counters', ctr.sensors.map((x) => x.sensor + '|' + x.handshakes), [0, 2], 'admin counters');
    const hs = Object.fromEntries(ctr.sensors.map((x) => [x.sensor, x.handshakes]));
    same([hs[process.env.D4_GREEN_SENSOR], hs[process.env.D4_RED_SENSOR]], [65, 1], 'handshakes of the line sensors');
    check(hs[process.env.D4_CAPTURE_SENSOR] > 0, 'handshakes of the capture sensor');
    await page.screenshot({ path: dir + '/pssl-admin-landing.png', fullPage: true });

    // search by each key
    const byIp = await search(o, 'ip', '127.0.0.1');
    check(byIp.items.length > 0 && byIp.items.every((t) => t.server_ip === '127.0.0.1'), 'capture tuples by IP');
    check(byIp.items.every((t) => !t.cert || E.capture_certs.includes(t.cert)), 'the capture\'s tuples carry its certificates');
    check(E.capture_certs.every((h) => byIp.items.some((t) => t.cert === h)), 'both capture certificates on 127.0.0.1');
    const bySni = await search(o, 'sni', 'leaf.test');
    same(bySni.items.map(tupleKey), ['192.0.2.20|443|' + S['leaf.test']], 'SNI leaf.test');
    const byJa4 = await search(o, 'ja4', E.ja4.B);
    same(byJa4.items.map(tupleKey), ['192.0.2.21|8443|' + S['leaf.test']], 'JA4 of client B');
    const byJa3 = await search(o, 'ja3', E.ja3.B);
    same(byJa3.items.map(tupleKey), ['192.0.2.21|8443|' + S['leaf.test']], 'JA3 of client B');
    same(await text(page, '#ps-fp-string'), 'JA3 string: ' + E.ja3_string.B, 'the JA3 string behind the MD5');
    const byJa3s = await search(o, 'ja3s', E.ja3s);
    check(byJa3s.items.length === 50 && byJa3s.next_cursor, 'JA3S: a full first page (64 tuples share it)');
    const bySha256 = await search(o, 'sha256', E.sha256['old.test']);
    same(bySha256.items.map((c) => c.sha1), [S['old.test']], 'SHA-256 of old.test');
    const bySpki = await search(o, 'spki', E.spki['leaf.test']);
    same(bySpki.items.map((c) => c.sha1), [S['leaf.test']], 'SPKI of the leaf');
    const byName = await search(o, 'name', 'www.leaf.test');
    same(byName.items.map((c) => c.sha1), [S['leaf.test']], 'name www.leaf.test');
    const bySuffix = await search(o, 'name', '*.test');
    same(sorted(bySuffix.items.map((c) => c.sha1)), sorted([S['leaf.test'], S['old.test'], S['future.test'], S.hostile, S.red,
      ...E.capture_certs]), 'name *.test');
    // the kind guessed from the value
    await search(o, 'ip', '203.0.113.9', 'auto');
    await search(o, 'name', 'future.test', 'auto');
    await search(o, 'ja4', E.ja4.A, 'auto');
    const range = await search(o, 'ip', '198.51.100.1-198.51.100.3', 'auto');
    same(range.items.map((t) => t.server_ip), ['198.51.100.1', '198.51.100.2', '198.51.100.3'], 'an address range');
    await page.selectOption('#ps-kind', 'auto');
    await page.fill('#ps-q', S['old.test'].toUpperCase());
    await page.click('#ps-go');
    await page.waitForFunction((h) => document.querySelector('#ps-c-sha1').textContent === h && !document.querySelector('#ps-cert').hidden,
      S['old.test'], { timeout: T });

    await page.selectOption('#ps-kind', 'sha1');
    await page.fill('#ps-q', S.hostile);
    await page.click('#ps-go');
    await page.waitForFunction((h) => document.querySelector('#ps-c-sha1').textContent === h && !document.querySelector('#ps-cert').hidden,
      S.hostile, { timeout: T });
    same(await page.evaluate(() => location.hash), '#certificates/cert/' + S.hostile, 'a SHA-1 search opens the detail');

    // paging: 60 tuples of the hostile certificate on 198.51.100.0/24, pages of 50
    const p1 = await search(o, 'ip', '198.51.100.0/24');
    same(p1.items.length, 50, 'page 1 from the API');
    const rows1 = (await rowsOf(page, '#ps-tuples')).map((r) => r[0]);
    await page.click('#ps-next');
    const p2 = await apiJson(page, '/api/v1/pssl/tuples?ip=198.51.100.0%2F24&limit=50&cursor=' + encodeURIComponent(p1.next_cursor));
    same(p2.items.length, 10, 'page 2 from the API');
    same(p2.next_cursor, null, 'no page 3');
    await waitRows(page, '#ps-tuples', p2.items.map(tupleKey), TUPLE_COLS, 'page 2');
    same(await text(page, '#ps-page'), 'page 2', 'page number');
    check(await page.isDisabled('#ps-next'), 'no next page after the last');
    const rows2 = (await rowsOf(page, '#ps-tuples')).map((r) => r[0]);
    const want = Array.from({ length: 60 }, (_, i) => '198.51.100.' + (i + 1));
    same(sorted(rows1.concat(rows2)), sorted(want), 'both pages: each address once');
    await page.screenshot({ path: dir + '/pssl-admin-page2.png', fullPage: true });
    await page.click('#ps-prev');
    await waitRows(page, '#ps-tuples', p1.items.map(tupleKey), TUPLE_COLS, 'back to page 1');
    check(await page.isDisabled('#ps-prev'), 'no previous page before the first');

    // errors next to the search: the API's reason, the page's own
    await page.selectOption('#ps-kind', 'ip');
    await page.fill('#ps-q', '300.1.2.3');
    await page.click('#ps-go');
    await page.waitForFunction(() => document.querySelector('#ps-search-error').textContent !== '', null, { timeout: T });
    check(await page.isHidden('#ps-results'), 'results hidden after a refused search');
    const apiErr = await page.evaluate(async () => (await (await fetch('/api/v1/pssl/tuples?ip=300.1.2.3&limit=50',
      { headers: { Authorization: 'Bearer ' + sessionStorage.getItem('d4hub-token') } })).json()).detail);
    same(await text(page, '#ps-search-error'), apiErr, 'the API\'s reason shown');
    await page.screenshot({ path: dir + '/pssl-admin-error.png', fullPage: true });
    await page.selectOption('#ps-kind', 'auto');
    await page.fill('#ps-q', '%%%');
    await page.click('#ps-go');
    await page.waitForFunction(() => document.querySelector('#ps-search-error').textContent.includes('choose what to search by'),
      null, { timeout: T });
    await page.goto(url + '/#certificates/cert/' + '0'.repeat(40));
    await page.waitForFunction(() => document.querySelector('#ps-search-error').textContent.startsWith('Not found'), null, { timeout: T });
    check(await page.isHidden('#ps-cert'), 'no detail for an unknown certificate');

    // the leaf's detail: fields, chain, servers, fingerprints; independent facts too
    const leaf = await openCert(o, S['leaf.test']);
    const leafTuples = await checkDetail(o, leaf);
    same(leaf.sha256, E.sha256['leaf.test'], 'leaf SHA-256 from the API');
    same(leaf.spki_sha256, E.spki['leaf.test'], 'leaf SPKI from the API');
    same(leaf.serial.replace(/^0+/, ''), E.serial['leaf.test'].replace(/^0+/, ''), 'leaf serial from the API');
    same(await text(page, '#ps-c-exponent'), '3', 'leaf exponent');
    same(await text(page, '#ps-c-key'), 'RSA 2048 bits', 'leaf key');
    same(sorted(leafTuples.map(tupleKey)), ['192.0.2.20|443|' + S['leaf.test'], '192.0.2.21|8443|' + S['leaf.test']], 'leaf tuples');
    same((await rowsOf(page, '#ps-c-chain')).map((r) => r[1]), [S['leaf.test'], S.ca], 'leaf chain');
    same((await rowsOf(page, '#ps-c-chain'))[1][2], 'Web Test CA', 'the CA\'s subject in the chain');
    same(sorted((await rowsOf(page, '#ps-c-fps')).map((r) => r[0] + '|' + r[1])),
      sorted(['JA3|' + E.ja3.A, 'JA3|' + E.ja3.B, 'JA4|' + E.ja4.A, 'JA4|' + E.ja4.B, 'JA3S|' + E.ja3s]), 'leaf fingerprints');
    check((await text(page, '#ps-c-validity')).endsWith('(valid)'), 'leaf valid');
    // the weak-key findings of its key (exponent 3) as the API reports them
    if (process.env.D4_WEAK === '1') {
      const weak = await apiJson(page, '/api/v1/pssl/weak/certs/' + S['leaf.test']);
      check(weak.findings.some((f) => f.kind === 'weak-exponent'), 'the API reports the leaf\'s exponent');
      await waitRows(page, '#ps-c-weak', weak.findings.map((f) => f.kind), [0], 'leaf weak-key findings');
      const wrow = (await rowsOf(page, '#ps-c-weak')).find((r) => r[0] === 'weak-exponent');
      check(wrow[1].startsWith('public exponent 3 ('), 'the weak exponent in words: ' + wrow[1]);
      check(await page.isHidden('#ps-c-weak-empty'), 'weak-key empty state with findings');
    } else {
      await page.waitForFunction(() => !document.querySelector('#ps-c-weak-empty').hidden, null, { timeout: T });
    }
    await page.screenshot({ path: dir + '/pssl-admin-leaf.png', fullPage: true });
    // PEM download: the API's PEM, the certificate openssl made
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: T }), page.click('#ps-pem')]);
    same(dl.suggestedFilename(), S['leaf.test'] + '.pem', 'PEM file name');
    const pem = fs.readFileSync(await dl.path(), 'utf8');
    same(pem.trim(), leaf.pem.trim(), 'downloaded PEM = the API\'s');
    same(pem.replace(/\s+/g, ''), E.pem['leaf.test'].replace(/\s+/g, ''), 'downloaded PEM = the certificate made');

    // pivots: a JA3, an address, a name, then back
    await page.click('#ps-c-fps a.ps-ja3 >> text=' + E.ja3.B);
    await waitRows(page, '#ps-tuples', ['192.0.2.21|8443|' + S['leaf.test']], TUPLE_COLS, 'pivot JA3');
    same(await page.inputValue('#ps-q'), E.ja3.B, 'the pivot fills the search');
    await page.goBack();
    await page.waitForFunction((h) => !document.querySelector('#ps-cert').hidden && document.querySelector('#ps-c-sha1').textContent === h,
      S['leaf.test'], { timeout: T });
    await page.click('#ps-c-servers a.ps-ip >> text=192.0.2.20');
    await waitRows(page, '#ps-tuples', ['192.0.2.20|443|' + S['leaf.test']], TUPLE_COLS, 'pivot IP');
    await page.goBack();
    await page.click('#ps-c-sans a >> text=www.leaf.test');
    await waitRows(page, '#ps-certs', [S['leaf.test']], [0], 'pivot name');
    await page.goBack();
    await page.click('#ps-c-issuer a.ps-issuer');
    const byIssuer = await apiJson(page, '/api/v1/pssl/certs?issuer=' + encodeURIComponent(leaf.issuer) + '&limit=50');
    same(sorted(byIssuer.items.map((c) => c.sha1)), sorted([S.ca, S['leaf.test'], S['old.test'], S['future.test']]), 'the CA\'s certificates');
    await waitRows(page, '#ps-certs', byIssuer.items.map((c) => c.sha1), [0], 'pivot issuer');
    await page.goBack();
    await page.waitForFunction((h) => !document.querySelector('#ps-cert').hidden && document.querySelector('#ps-c-sha1').textContent === h,
      S['leaf.test'], { timeout: T });
    await page.click('#ps-c-chain a.ps-cert-link');
    const ca = await openCert(o, S.ca);
    await checkDetail(o, ca);
    same(await text(page, '#ps-c-key'), 'EC 256 bits prime256v1', 'CA key');
    await page.waitForFunction(() => !document.querySelector('#ps-c-weak-empty').hidden, null, { timeout: T });
    same((await rowsOf(page, '#ps-c-weak')).length, 0, 'no weak-key finding for the CA');
    // from a detail, a value typed without choosing a kind: guessed
    same(await page.inputValue('#ps-kind'), 'auto', 'the kind after a detail');
    await page.fill('#ps-q', E.ja3.B);
    await page.click('#ps-go');
    await waitRows(page, '#ps-tuples', ['192.0.2.21|8443|' + S['leaf.test']], TUPLE_COLS, 'a JA3 typed on a detail');

    // expired, not yet valid
    const old = await openCert(o, S['old.test']);
    await checkDetail(o, old);
    check((await text(page, '#ps-c-validity')).endsWith('(expired)'), 'old.test expired');
    const longRow = (await rowsOf(page, '#ps-c-servers')).find((r) => r[0] === '192.0.2.40');
    same(longRow && longRow[2], E.long_sni.slice(0, 255) + ' (cut at 255 bytes)', 'a cut SNI said so');
    check(await page.$eval('#ps-c-validity span', (s) => s.className === 'validity-expired'), 'expired class');
    const fut = await openCert(o, S['future.test']);
    await checkDetail(o, fut);
    check((await text(page, '#ps-c-validity')).endsWith('(not yet valid)'), 'future.test not yet valid');

    // the hostile certificate: its text shown as text, nothing of it run or parsed as markup
    const host = await openCert(o, S.hostile);
    await checkDetail(o, host);
    check(host.subject.includes('<img') && host.subject.includes('<svg'), 'the API keeps the hostile subject');
    same(await page.evaluate(() => document.querySelectorAll('main img, main svg, main b').length), 0, 'markup elements');
    same(await page.evaluate(() => window.__pwned), undefined, 'hostile script ran');
    check((await text(page, '#ps-c-sans')).includes('<b>bold</b>.hostile.test'), 'the hostile SAN as text');
    same((await rowsOf(page, '#ps-c-servers')).length, 60, 'the hostile certificate\'s 60 servers after More');
    await page.screenshot({ path: dir + '/pssl-admin-hostile.png', fullPage: true });
    if (o.errors.length) fail(o.errors.join(' | '));
    await o.ctx.close();

    // the user: the green data, never the red certificate
    const allowedUser = (u, st) => st === 404 && u.includes('/certs/' + S.red);
    const u = await open(process.env.D4_USER_TOKEN, 'user', allowedUser);
    const uRequests = [];
    u.page.on('request', (r) => uRequests.push(r.url()));
    const urecent = await apiJson(u.page, '/api/v1/pssl/certs?limit=20');
    same(sorted(urecent.items.map((c) => c.sha1)), sorted(all.filter((h) => h !== S.red)), 'user: every certificate but the red one');
    await waitRows(u.page, '#ps-recent', urecent.items.map((c) => c.sha1), [0], 'user recent');
    same(await text(u.page, '#ps-clearance'), 'tlp:amber+strict', 'user clearance');
    check(await u.page.isHidden('#ps-counters-box'), 'the user is offered the counters');
    const ured = await search(u, 'ip', '203.0.113.9');
    same(ured.items.length, 0, 'user: the red address has no tuple');
    check(await u.page.isVisible('#ps-none'), 'user: "no match" for the red address');
    const usuffix = await search(u, 'name', '*.test');
    check(!usuffix.items.some((c) => c.sha1 === S.red) && usuffix.items.length === bySuffix.items.length - 1, 'user: *.test without red');
    await search(u, 'ja4', E.ja4.A);
    const uleaf = await openCert(u, S['leaf.test']);
    await checkDetail(u, uleaf);
    await u.page.goto(url + '/#certificates/cert/' + S.red);
    await u.page.waitForFunction(() => document.querySelector('#ps-search-error').textContent.startsWith('Not found'), null, { timeout: T });
    check(!(await text(u.page, 'body')).includes('red.test'), 'the user sees red.test');
    await u.page.screenshot({ path: dir + '/pssl-user.png', fullPage: true });
    check(!uRequests.some((x) => x.includes('/api/v1/pssl/counters')), 'the user page asked the counters');
    if (u.errors.length) fail(u.errors.join(' | '));
    await u.ctx.close();
    console.log('admin and user: search by every key, paging, details, pivots, PEM, hostile text; no red certificate for the user');
  }
} catch (e) {
  fail(e.stack || e.message);
} finally {
  await browser.close();
}
