// The backscatter view in Debian's chromium (headless, through playwright-core)
// against a real d4hub.
//   node web_bs.mjs empty URL ADMIN_TOKEN SHOTS   an empty store: "nothing yet"
//   node web_bs.mjs full URL ADMIN_TOKEN SHOTS    vectors written by web_bs.sh (env D4_USER_TOKEN):
//     the admin sees the ongoing attacks, the last 24 hours, a victim's detail (by click and by
//     search, a bad search refused with the API's reason) and the counters; the user sees no
//     red vector anywhere and is offered no counters.
import { chromium } from 'playwright-core';

const [mode, url, token, shots] = process.argv.slice(2);
const fail = (msg) => { console.error('FAIL: ' + msg); process.exitCode = 1; };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});

async function open(tok, who, allow400) {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await ctx.newPage();
  const errors = [], requests = [];
  page.on('pageerror', (e) => errors.push(who + ': ' + String(e)));
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
  page.on('request', (r) => requests.push(r.url()));
  page.on('response', (r) => {
    if (r.status() < 400) return;
    if (allow400 && r.status() === 400 && r.url().includes('victim=' + allow400)) return;
    errors.push(who + ': ' + r.status() + ' ' + r.url());
  });
  await page.goto(url + '/#backscatter');
  await page.fill('#token', tok);
  await page.click('#signin-button');
  await page.waitForFunction(() => !document.querySelector('#backscatter').hidden, null, { timeout: 30000 });
  return { ctx, page, errors, requests };
}
const rowsOf = (page, sel) => page.evaluate((s) => [...document.querySelectorAll(s + ' tbody tr')]
  .map((tr) => [...tr.cells].map((c) => c.textContent)), sel);

try {
  if (mode === 'empty') {
    const { ctx, page, errors } = await open(token, 'admin');
    await page.waitForFunction(() => !document.querySelector('#bs-empty').hidden, null, { timeout: 30000 });
    const text = await page.textContent('#bs-empty');
    if (!text.includes('Nothing yet')) fail('empty state: ' + text);
    if (await page.isHidden('#bs-ongoing-empty') || await page.isHidden('#bs-recent-empty')) fail('no empty-table hints');
    // the words instead of the headers of empty tables
    if (await page.isVisible('#bs-ongoing') || await page.isVisible('#bs-recent')) fail('empty tables shown');
    await page.waitForFunction(() => !document.querySelector('#bs-counters-empty').hidden, null, { timeout: 30000 });
    if (await page.isVisible('#bs-counters')) fail('an empty table of consumer counters shown');
    if ((await page.textContent('#bs-n-ongoing')) !== '0') fail('ongoing count on an empty store');
    await page.screenshot({ path: shots + '/bs-empty.png', fullPage: true });
    if (errors.length) fail(errors.join(' | '));
    await ctx.close();
    console.log('empty store: "nothing yet" shown');
  } else {
    const { ctx, page, errors, requests } = await open(token, 'admin', 'not-an-address');
    // ongoing: the two ongoing vectors (amber, red); last 24 h: those and the closed recent one
    await page.waitForFunction(() => document.querySelectorAll('#bs-ongoing tbody tr').length === 2, null, { timeout: 30000 });
    const ongoing = (await rowsOf(page, '#bs-ongoing')).map((r) => r[0]).sort();
    if (JSON.stringify(ongoing) !== JSON.stringify(['192.0.2.10', '203.0.113.5'])) fail('ongoing: ' + ongoing);
    await page.waitForFunction(() => document.querySelectorAll('#bs-recent tbody tr').length === 3, null, { timeout: 30000 });
    const recent = (await rowsOf(page, '#bs-recent')).map((r) => r[0]).sort();
    if (JSON.stringify(recent) !== JSON.stringify(['192.0.2.10', '2001:db8::7', '203.0.113.5'])) fail('last 24 h: ' + recent);
    if (!(await page.isHidden('#bs-empty'))) fail('"nothing yet" shown with vectors');
    if ((await page.textContent('#bs-n-ongoing')) !== '2') fail('ongoing card: ' + await page.textContent('#bs-n-ongoing'));
    if ((await page.textContent('#bs-clearance')) !== 'tlp:red') fail('admin clearance shown');
    // per-victim detail by click: both vectors of 192.0.2.10, the old closed one included
    await page.locator('#bs-ongoing a.bs-victim-link', { hasText: '192.0.2.10' }).click();
    await page.waitForFunction(() => document.querySelectorAll('#bs-v-table tbody tr').length === 2, null, { timeout: 30000 });
    const detail = (await rowsOf(page, '#bs-v-table')).map((r) => r[0] + '/' + r[1]).sort();
    if (JSON.stringify(detail) !== JSON.stringify(['icmp-echo-reply/closed', 'tcp-synack/ongoing'])) fail('detail: ' + detail);
    const cells = (await rowsOf(page, '#bs-v-table')).find((r) => r[0] === 'tcp-synack');
    if (!cells[7].includes('80 (100)') || !cells[9].includes('tlp:amber')) fail('detail row: ' + cells.join(' | '));
    // by search: a network; a bad search shows the API's reason
    await page.fill('#bs-victim-input', '2001:db8::/32');
    await page.click('#bs-search button');
    await page.waitForFunction(() => document.querySelector('#bs-v-addr').textContent === '2001:db8::/32' &&
      document.querySelectorAll('#bs-v-table tbody tr').length === 1, null, { timeout: 30000 });
    await page.fill('#bs-victim-input', 'not-an-address');
    await page.click('#bs-search button');
    await page.waitForFunction(() => document.querySelector('#bs-search-error').textContent.includes('victim'), null,
      { timeout: 30000 });
    // counters: the admin's
    await page.waitForFunction(() => document.querySelectorAll('#bs-counters tbody tr').length === 1, null, { timeout: 30000 });
    await page.screenshot({ path: shots + '/bs-admin.png', fullPage: true });
    if (errors.length) fail(errors.join(' | '));
    if (!requests.some((u) => u.includes('/api/v1/backscatter/counters'))) fail('the admin page did not ask the counters');
    await ctx.close();

    // the user: no red vector anywhere, no counters
    const u = await open(process.env.D4_USER_TOKEN, 'user');
    await u.page.waitForFunction(() => document.querySelectorAll('#bs-ongoing tbody tr').length === 1 &&
      document.querySelectorAll('#bs-recent tbody tr').length === 2, null, { timeout: 30000 });
    if ((await u.page.textContent('body')).includes('203.0.113')) fail('the user sees the red victim');
    // asked by its address, the red victim has no vector for the user
    await u.page.fill('#bs-victim-input', '203.0.113.5');
    await u.page.click('#bs-search button');
    await u.page.waitForFunction(() => !document.querySelector('#bs-v-empty').hidden, null, { timeout: 30000 });
    if ((await rowsOf(u.page, '#bs-v-table')).length !== 0) fail('the user gets the red victim\'s vectors');
    if (!(await u.page.isHidden('#bs-counters-box'))) fail('the user is offered the counters');
    if (u.requests.some((x) => x.includes('/api/v1/backscatter/counters'))) fail('the user page asked the counters');
    if ((await u.page.textContent('#bs-clearance')) !== 'tlp:amber+strict') fail('user clearance shown');
    if ((await u.page.textContent('#bs-n-ongoing')) !== '1') fail('user ongoing card');
    await u.page.screenshot({ path: shots + '/bs-user.png', fullPage: true });
    if (u.errors.length) fail(u.errors.join(' | '));
    await u.ctx.close();
    console.log('admin: ongoing, last 24 h, victim detail, counters; user: no red vector, no counters');
  }
} catch (e) {
  fail(e.message);
} finally {
  await browser.close();
}
