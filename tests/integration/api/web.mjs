// Drives Debian's chromium (headless, through playwright-core) against a real
// d4hub: sign in with a token, approve a pending sensor, run d4-sensor, and see
// the sensor's packet counter move on the page; see the federation partners.
// Usage: node web.mjs URL TOKEN UUID SCREENSHOT_DIR  (env D4_SENSOR_ARGS: JSON argv of the d4-sensor run,
// D4_PARTNER: a partner the page must list)
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';

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
page.on('response', (r) => {
  if (r.status() < 400) return;
  if (expect401 && r.status() === 401 && r.url().endsWith('/api/v1/me')) return;
  errors.push(r.status() + ' ' + r.request().method() + ' ' + r.url());
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
  if (errors.length) fail('errors in the page: ' + errors.join(' | '));
} catch (e) {
  await page.screenshot({ path: shots + '/failure.png', fullPage: true }).catch(() => {});
  fail(e.message);
} finally {
  await browser.close();
}
