// d4hub web page: the operator's views (loaded after app.js, using its
// helpers): sensors with their connection state, traffic graphs, edit,
// delete, key rotation, kick, block; pending registrations (approve,
// refuse); blocklist; types and extended types; users and tokens; the server
// mode. Role-aware: what the role `user` may not do is never offered to it
// (elements of class admin-only stay hidden, row actions are not built); the
// API refuses it anyway. An action's error (the API's problem detail) is shown
// next to that action. Everything from the hub is inserted as text
// (textContent, createElement), never as HTML; graphs are SVG built with the
// DOM. A secret (a rotated key, a new token) is shown once, in the page only,
// until the operator hides it or leaves the view.
'use strict';

const isAdmin = () => state.role === 'admin';
const TLPS = ['tlp:clear', 'tlp:green', 'tlp:ex:chr', 'tlp:amber', 'tlp:amber+strict', 'tlp:red', 'tlp:unclear'];
const CHART_DAYS = 30;
const PALETTE = ['#0b5cad', '#d9730d', '#1e7b34', '#b3261e', '#6b4fbb', '#00838f', '#8a5a00', '#c2185b', '#5b6470', '#33691e'];
const ops = { sensorLoaded: null, rowErr: new Map() };

// ---- small helpers -----------------------------------------------------------

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
// Runs an action; its error goes to slot (an element next to the action).
async function runAct(slot, fn) {
  if (slot) slot.textContent = '';
  try {
    return (await fn()) !== false; // false: cancelled
  } catch (e) {
    if (e.message !== 'unauthorized') {
      if (slot) slot.textContent = e.message; else setStatus(e.message, true);
    }
    return false;
  }
}
// A row's action buttons with their error slot; a row is rebuilt at every refresh,
// so its error is kept by key until that action succeeds.
function rowActions(key, buttons) {
  const span = el('span', null, 'actions');
  const slot = el('span', ops.rowErr.get(key) || '', 'error act-error');
  slot.setAttribute('role', 'alert');
  for (const [label, fn] of buttons) {
    span.append(button(label, async () => {
      ops.rowErr.delete(key);
      slot.textContent = '';
      try {
        await fn();
      } catch (e) {
        if (e.message === 'unauthorized') return;
        ops.rowErr.set(key, label + ': ' + e.message);
        slot.textContent = label + ': ' + e.message;
      }
      await refresh();
    }));
  }
  span.append(slot);
  return span;
}
function sensorPath(uuid, sub) { return '/api/v1/sensors/' + encodeURIComponent(uuid) + (sub || ''); }
function connText(s) {
  if (s.connected === null || s.connected === undefined) return 'unknown';
  if (!s.connected) return 'not connected';
  return 'connected' + (s.live_sessions > 1 ? ' (' + s.live_sessions + ' streams)' : '');
}
function connBadge(s) {
  const sp = el('span', connText(s), 'conn conn-' + (s.connected ? 'on' : s.connected === false ? 'off' : 'unknown'));
  if (s.connected) sp.title = 'since ' + fmtTime(s.connected_since);
  return sp;
}
// A session without an end is open only if it began since the sensor's live connections did
// (one left by a hub that crashed never ended).
function openNow(s, x) { return s.connected && x.started >= s.connected_since; }
function applyRole() {
  for (const e of document.querySelectorAll('.admin-only')) e.hidden = !isAdmin();
}

// ---- traffic graphs (inline SVG, no library) ---------------------------------------
// A stacked bar chart: one bar per day, one colour per series (the largest
// series first, the rest summed as "others"), a legend, the total on hover.

const SVG_NS = 'http://www.w3.org/2000/svg';
function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function lastDays(n) {
  const out = [];
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  for (let i = n - 1; i >= 0; i--) out.push(new Date(today - i * 86400000).toISOString().slice(0, 10));
  return out;
}
// items: DailyItem[]; keyOf(item) → series name; metric: 'packets' or 'bytes'.
function seriesOf(items, days, keyOf, metric, maxSeries) {
  const idx = new Map(days.map((d, i) => [d, i]));
  const by = new Map();
  for (const it of items) {
    const i = idx.get(it.day);
    if (i === undefined) continue;
    const k = keyOf(it);
    if (!by.has(k)) by.set(k, new Array(days.length).fill(0));
    by.get(k)[i] += it[metric];
  }
  const all = [...by].map(([label, values]) => ({ label, values, total: values.reduce((a, b) => a + b, 0) }))
    .filter((s) => s.total > 0).sort((a, b) => b.total - a.total || (a.label < b.label ? -1 : 1));
  if (all.length <= maxSeries) return all;
  const keep = all.slice(0, maxSeries - 1), rest = all.slice(maxSeries - 1);
  const others = new Array(days.length).fill(0);
  for (const s of rest) s.values.forEach((v, i) => { others[i] += v; });
  keep.push({ label: 'others (' + rest.length + ')', values: others, total: others.reduce((a, b) => a + b, 0) });
  return keep;
}
// The top of the scale: 4 gridlines of a round step (a whole number for counts).
function scaleMax(v, metric) {
  const raw = Math.max(v, 1) / 4;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  let t = [1, 2, 2.5, 5, 10].map((m) => m * p).find((x) => x >= raw);
  if (metric !== 'bytes') t = Math.max(1, Math.ceil(t));
  return 4 * t;
}
function fmtShort(n, metric) {
  if (metric === 'bytes') return fmtBytes(n);
  if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + 'k';
  return String(n);
}
// Draws into box (a div): replaces its content.
function drawChart(box, days, series, metric) {
  box.replaceChildren();
  if (!series.length) {
    box.append(el('p', 'Nothing yet: no traffic in the last ' + days.length + ' days.', 'hint chart-empty'));
    return;
  }
  // drawn at the box's own width, so that text keeps its size
  const W = Math.max(360, (box.clientWidth || 736) - 16), H = 220, L = 64, B = 22, T = 10, R = 8;
  const totals = days.map((_, i) => series.reduce((a, s) => a + s.values[i], 0));
  const max = scaleMax(Math.max(...totals), metric);
  const svg = svgEl('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', role: 'img' });
  svg.append(svgEl('title', {}, metric + ' per day, last ' + days.length + ' days'));
  const ph = H - B - T, pw = W - L - R, bw = pw / days.length;
  for (let g = 0; g <= 4; g++) {
    const y = T + ph - (ph * g) / 4;
    svg.append(svgEl('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' }));
    svg.append(svgEl('text', { x: L - 4, y: y + 4, 'text-anchor': 'end', class: 'axis' }, fmtShort((max * g) / 4, metric)));
  }
  days.forEach((d, i) => {
    let y = T + ph;
    const x = L + i * bw + 1;
    const grp = svgEl('g', { class: 'bar', 'data-day': d });
    grp.append(svgEl('title', {}, d + ': ' + fmtShort(totals[i], metric) + ' ' + (metric === 'bytes' ? '' : metric)));
    series.forEach((s, k) => {
      const h = (s.values[i] / max) * ph;
      if (h <= 0) return;
      y -= h;
      grp.append(svgEl('rect', { x, y, width: Math.max(bw - 2, 1), height: h, fill: PALETTE[k % PALETTE.length] }));
    });
    svg.append(grp);
    // a date under every step-th bar, counted back from today's (always labelled)
    const step = Math.ceil(days.length / 8);
    if ((days.length - 1 - i) % step === 0)
      svg.append(svgEl('text', { x: x + bw / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis' }, d.slice(5)));
  });
  box.append(svg);
  const legend = el('ul', null, 'legend');
  series.forEach((s, k) => {
    const li = el('li');
    const sw = svgEl('svg', { width: 10, height: 10, class: 'swatch' });
    sw.append(svgEl('rect', { width: 10, height: 10, fill: PALETTE[k % PALETTE.length] }));
    li.append(sw, document.createTextNode(' ' + s.label + ': ' + fmtShort(s.total, metric)));
    legend.append(li);
  });
  box.append(legend);
}
function typeLabel(t) { return t + ' (' + (TYPE_NAMES[t] || '?') + ')'; }

async function dashboardCharts() {
  const metric = $('#dash-metric').value;
  const [data, sensors] = await Promise.all([api('GET', '/api/v1/stats/daily?days=' + CHART_DAYS),
    api('GET', '/api/v1/sensors?limit=1000')]);
  const days = lastDays(CHART_DAYS);
  const names = new Map(sensors.items.map((s) => [s.uuid, s.description]));
  drawChart($('#chart-types'), days, seriesOf(data.items, days, (it) => typeLabel(it.type), metric, 8), metric);
  drawChart($('#chart-sensors'), days, seriesOf(data.items, days,
    (it) => (names.get(it.sensor) ? names.get(it.sensor) + ' ' : '') + it.sensor.slice(0, 8), metric, 8), metric);
}

// ---- sensors -----------------------------------------------------------------

async function loadSensorsOps() {
  const f = $('#sensor-filter').value;
  const data = await api('GET', '/api/v1/sensors?limit=1000' + (f ? '&status=' + encodeURIComponent(f) : ''));
  $('#sensor-empty').hidden = data.items.length > 0;
  $('#sensor-table').hidden = data.items.length === 0;
  fill('#sensor-table', data.items.map((s) => row([s.uuid, statusSpan(s.status), connBadge(s), s.description, fmtNum(s.packets),
    fmtBytes(s.bytes), fmtTime(s.last_seen), s.last_error], () => selectSensor(s.uuid))));
  if (state.selected) await showSensorOps(state.selected);
}
function selectSensor(uuid) {
  state.selected = uuid;
  ops.sensorLoaded = null;
  for (const id of ['#sd-error', '#sd-edit-error', '#sd-kick-error']) $(id).textContent = '';
  $('#sd-secret').hidden = true;
  $('#sd-secret-value').textContent = '';
  showSensorOps(uuid).catch((e) => setStatus(e.message, true));
}
async function showSensorOps(uuid) {
  let s;
  try {
    s = await api('GET', sensorPath(uuid));
  } catch (e) {
    if (e.status === 404) { // deleted meanwhile (d4hubctl, another tab)
      state.selected = null;
      $('#sensor-detail').hidden = true;
      return;
    }
    throw e;
  }
  if (state.selected !== uuid) return;
  $('#sensor-detail').hidden = false;
  $('#sd-uuid').textContent = s.uuid;
  const dl = $('#sd-fields');
  const fields = [['Status', s.status, 'sd-status'], ['Connection', connText(s) + (s.connected ? ' since ' + fmtTime(s.connected_since) : ''), 'sd-conn'],
    ['Description', s.description, 'sd-desc'], ['Mail', s.mail, 'sd-mail'], ['Packets', fmtNum(s.packets), 'sd-packets'],
    ['Bytes', fmtBytes(s.bytes)], ['Registered', fmtTime(s.created)], ['First seen', fmtTime(s.first_seen)],
    ['Last seen', fmtTime(s.last_seen)], ['Default TLP', s.default_tlp || '(the hub\'s default)', 'sd-tlp'],
    ['Default org', s.default_org || '(the hub\'s org)'], ['Own key', s.has_key ? 'yes' : 'no (shared key)'],
    ['Banned until', fmtTime(s.ban_until), 'sd-ban'], ['Last error', s.last_error]];
  dl.replaceChildren();
  for (const [k, v, id] of fields) {
    const dd = el('dd', v === null || v === undefined || v === '' ? '–' : v);
    if (id) dd.id = id;
    dl.append(el('dt', k), dd);
  }
  // the actions this status allows (admins only)
  const show = { approve: s.status === 'pending', refuse: s.status === 'pending', block: s.status !== 'blocked',
    unblock: s.status === 'blocked', kick: true, rotate: true, delete: true };
  for (const b of document.querySelectorAll('#sd-actions [data-act]')) b.hidden = !show[b.dataset.act];
  // the edit form is filled once per selected sensor, so a refresh never overwrites an edit in progress
  if (ops.sensorLoaded !== uuid) {
    $('#sd-e-desc').value = s.description || '';
    $('#sd-e-mail').value = s.mail || '';
    $('#sd-e-tlp').value = s.default_tlp || '';
    $('#sd-e-org').value = s.default_org || '';
    $('#sd-e-payload').value = s.max_payload;
    $('#sd-e-backlog').value = s.max_backlog;
    $('#sd-e-silence').value = s.silence_threshold;
    ops.sensorLoaded = uuid;
  }
  fill('#sd-types', (s.types || []).map((t) => row([t.type, t.ext_type, fmtNum(t.packets), fmtBytes(t.bytes), fmtTime(t.last_seen)])));
  $('#sd-types').hidden = !(s.types || []).length;
  $('#sd-types-empty').hidden = (s.types || []).length > 0;
  const rejects = Object.entries(s.rejections || {}).filter(([, n]) => n > 0);
  fill('#sd-rejects', rejects.map(([r, n]) => row([r, fmtNum(n)])));
  $('#sd-rejects').hidden = rejects.length === 0;
  $('#sd-rejects-empty').hidden = rejects.length > 0;
  $('#sd-ips').replaceChildren(...(s.last_ips || []).map((ip) => el('li', ip.ip + ' (' + fmtTime(ip.seen) + ')')));
  if (!(s.last_ips || []).length) $('#sd-ips').append(el('li', 'none yet', 'hint'));
  const metric = $('#sd-metric').value;
  const [daily, sess] = await Promise.all([
    api('GET', '/api/v1/stats/daily?days=' + CHART_DAYS + '&sensor=' + encodeURIComponent(uuid)),
    api('GET', sensorPath(uuid, '/sessions?limit=10'))]);
  if (state.selected !== uuid) return;
  fill('#sd-sessions', sess.items.map((x) => row([x.id, x.type + (x.ext_type ? ' / ' + x.ext_type : ''), x.peer,
    fmtTime(x.started), x.ended ? fmtTime(x.ended) : openNow(s, x) ? 'open' : '– (never closed: the hub stopped)', fmtNum(x.frames), fmtBytes(x.bytes), x.tlp,
    x.close_reason])));
  $('#sd-sessions').hidden = sess.items.length === 0;
  $('#sd-sessions-empty').hidden = sess.items.length > 0;
  const days = lastDays(CHART_DAYS);
  drawChart($('#sd-chart'), days, seriesOf(daily.items, days, (it) => typeLabel(it.type), metric, 8), metric);
}

async function sensorActOps(act) {
  const uuid = state.selected;
  if (!uuid) return;
  const slot = $('#sd-error');
  await runAct(slot, async () => {
    if (act === 'approve' || act === 'unblock') {
      await api('POST', sensorPath(uuid, '/' + act));
    } else if (act === 'block') {
      if (!confirm('Block sensor ' + uuid + '? Its connections are closed and it cannot connect until unblocked.')) return;
      await api('POST', sensorPath(uuid, '/block'));
    } else if (act === 'refuse') {
      if (!confirm('Refuse the registration of sensor ' + uuid + '? It is deleted (the sensor may register again).')) return;
      await api('POST', sensorPath(uuid, '/refuse'));
      state.selected = null;
      $('#sensor-detail').hidden = true;
    } else if (act === 'delete') {
      if (!confirm('Delete sensor ' + uuid + '? Its registration, key and settings go; the data it sent stays. '
        + 'It cannot connect again until registered anew.')) return;
      await api('DELETE', sensorPath(uuid));
      state.selected = null;
      $('#sensor-detail').hidden = true;
    } else if (act === 'rotate') {
      if (!confirm('Give sensor ' + uuid + ' a new key? The current key stops working at once: the sensor must be given the new one.')) return;
      const r = await api('POST', sensorPath(uuid, '/rotate-key'), {});
      $('#sd-secret-value').textContent = r.key;
      $('#sd-secret').hidden = false;
    }
    setStatus(act + ' ' + uuid + ': done');
  });
  await refresh();
}
async function kickOps() {
  const uuid = state.selected;
  if (!uuid) return;
  const slot = $('#sd-kick-error');
  const ban = Number($('#sd-kick-ban').value);
  await runAct(slot, async () => {
    if (!Number.isInteger(ban) || ban < 0 || ban > 31536000) throw new Error('ban: a whole number of seconds, 0 to 31536000');
    if (!confirm('Kick sensor ' + uuid + '? Its connections are closed and it is refused for ' + ban + ' s.')) return;
    await api('POST', sensorPath(uuid, '/kick'), { ban_seconds: ban });
    setStatus('kicked ' + uuid + ' for ' + ban + ' s');
  });
  await refresh();
}
async function saveSensorOps() {
  const uuid = state.selected;
  if (!uuid) return;
  const num = (id) => Number($(id).value);
  const body = { description: $('#sd-e-desc').value, mail: $('#sd-e-mail').value.trim(),
    default_tlp: $('#sd-e-tlp').value || null, default_org: $('#sd-e-org').value.trim() || null,
    max_payload: num('#sd-e-payload'), max_backlog: num('#sd-e-backlog'), silence_threshold: num('#sd-e-silence') };
  const ok = await runAct($('#sd-edit-error'), async () => {
    await api('PATCH', sensorPath(uuid), body);
    setStatus('sensor ' + uuid + ' saved');
  });
  if (ok) ops.sensorLoaded = null;
  await refresh();
}

// ---- pending registrations -------------------------------------------------------

async function loadPendingOps() {
  const list = await api('GET', '/api/v1/sensors?status=pending&limit=1000');
  // mail and registration date are in the detail only
  const details = await Promise.all(list.items.map((s) => api('GET', sensorPath(s.uuid)).catch(() => s)));
  $('#pending-empty').hidden = details.length > 0;
  $('#pending-table').hidden = details.length === 0;
  fill('#pending-table', details.map((s) => {
    const cells = [s.uuid, s.mail || '–', s.description || '–', fmtTime(s.created)];
    if (isAdmin()) {
      cells.push(rowActions('pending:' + s.uuid, [
        ['Approve', async () => { await api('POST', sensorPath(s.uuid, '/approve')); setStatus('approved ' + s.uuid); }],
        ['Refuse', async () => {
          if (!confirm('Refuse the registration of sensor ' + s.uuid + ' (' + (s.mail || 'no mail') + ')? It is deleted; the sensor may register again.')) return;
          await api('POST', sensorPath(s.uuid, '/refuse'));
          setStatus('refused ' + s.uuid);
        }],
        ['Refuse and block', async () => {
          if (!confirm('Refuse sensor ' + s.uuid + ' and block it? It can neither register again nor connect.')) return;
          await api('POST', sensorPath(s.uuid, '/refuse'), { block: true });
          setStatus('refused and blocked ' + s.uuid);
        }]]));
    } else {
      cells.push('');
    }
    return row(cells);
  }));
}

// ---- blocklist -------------------------------------------------------------------

async function loadBlocklistOps() {
  const data = await api('GET', '/api/v1/blocklist');
  $('#block-empty').hidden = data.items.length > 0;
  fill('#block-table', data.items.map((b) => row([b.kind, b.value, fmtTime(b.created), isAdmin()
    ? rowActions('block:' + b.kind + ':' + b.value, [['Remove', async () => {
      await api('DELETE', '/api/v1/blocklist/' + encodeURIComponent(b.kind) + '/' + encodeURIComponent(b.value));
    }]]) : ''])));
}

// ---- types -------------------------------------------------------------------------

async function loadTypesOps() {
  const t = await api('GET', '/api/v1/types');
  const shown = [...new Set([1, 2, 3, 4, 5, 6, 7, 8, 254, ...t.accepted])].sort((a, b) => a - b);
  fill('#types-table', shown.map((n) => {
    const accepted = t.accepted.includes(n);
    let ctl = el('span', accepted ? 'yes' : 'no', accepted ? 'status-approved' : 'hint');
    if (isAdmin()) {
      ctl = el('span', null, 'actions');
      const cb = document.createElement('input');
      cb.type = 'checkbox';
      cb.checked = accepted;
      cb.id = 'type-' + n;
      cb.title = accepted ? 'accepted: uncheck to refuse' : 'refused: check to accept';
      const slot = el('span', ops.rowErr.get('type:' + n) || '', 'error act-error');
      cb.addEventListener('change', async () => {
        ops.rowErr.delete('type:' + n);
        if (!cb.checked && !confirm('Refuse type ' + n + ' (' + (TYPE_NAMES[n] || '?') + ')? The hub then refuses its packets: '
          + 'a sensor sending it is disconnected at its next packet.')) {
          cb.checked = true;
          return;
        }
        await runAct(slot, () => api('PUT', '/api/v1/types/' + n, { accepted: cb.checked }));
        if (slot.textContent) ops.rowErr.set('type:' + n, slot.textContent);
        await refresh();
      });
      ctl.append(cb, slot);
    }
    return row([n, TYPE_NAMES[n] || '–', ctl]);
  }));
  $('#ext-all').textContent = t.all_ext_types_accepted ? 'No list: every extended type is accepted.' : 'Only these extended types are accepted:';
  $('#ext-list').replaceChildren(...t.ext_types.map((x) => {
    const li = el('li', x + ' ');
    if (isAdmin()) {
      li.append(rowActions('ext:' + x, [['Remove', async () => {
        const last = t.ext_types.length === 1;
        if (!confirm('Remove extended type ' + x + '?' + (last ? ' It is the last one: with an empty list every extended type is accepted.'
          : ' Sensors sending it are refused.'))) return;
        await api('DELETE', '/api/v1/ext-types/' + encodeURIComponent(x));
      }]]));
    }
    return li;
  }));
}
async function addExtTypeOps() {
  const name = $('#ext-name').value.trim();
  const ok = await runAct($('#ext-error'), async () => {
    if (!name) throw new Error('give a name');
    await api('PUT', '/api/v1/ext-types/' + encodeURIComponent(name));
    setStatus('extended type ' + name + ' accepted');
  });
  if (ok) $('#ext-name').value = '';
  await refresh();
}

// ---- users and tokens ---------------------------------------------------------------

async function loadUsersOps() {
  const data = await api('GET', '/api/v1/users');
  const rows = [];
  for (const u of data.items) {
    const tokens = await api('GET', '/api/v1/users/' + encodeURIComponent(u.name) + '/tokens').catch((e) => {
      if (e.status === 404) return null; // deleted meanwhile
      throw e;
    });
    if (!tokens) continue;
    const list = el('ul', null, 'tokens');
    for (const t of tokens.items) {
      const li = el('li', '#' + t.id + (t.label ? ' “' + t.label + '”' : '') + ', created ' + fmtTime(t.created) + ', last used ' + fmtTime(t.last_used) + ' ');
      li.append(rowActions('token:' + t.id, [['Revoke', async () => {
        const mine = u.name === ops.me;
        if (!confirm('Revoke token #' + t.id + ' of ' + u.name + '?' + (mine ? ' If it is the one you signed in with, you are signed out.' : '')
          + ' Clients using it are refused at once.')) return;
        await api('DELETE', '/api/v1/tokens/' + encodeURIComponent(t.id));
        setStatus('revoked token #' + t.id);
      }]]));
      list.append(li);
    }
    if (!tokens.items.length) list.append(el('li', 'no token: this user cannot sign in', 'hint'));
    rows.push(row([u.name, u.role, fmtTime(u.created), list, rowActions('user:' + u.name, [
      ['New token', async () => {
        const label = prompt('Label of the new token for ' + u.name + ' (optional, up to 63 characters):', '');
        if (label === null) return;
        const t = await api('POST', '/api/v1/users/' + encodeURIComponent(u.name) + '/tokens', label ? { label } : {});
        showSecret('Token #' + t.id + ' of ' + u.name, t.token);
      }],
      ['Delete user', async () => {
        if (!confirm('Delete user ' + u.name + ' and every token of it?' + (u.name === ops.me ? ' This is you: you are signed out.' : ''))) return;
        await api('DELETE', '/api/v1/users/' + encodeURIComponent(u.name));
        setStatus('deleted user ' + u.name);
      }]])]));
  }
  fill('#user-table', rows);
}
function showSecret(what, secret) {
  $('#u-secret-what').textContent = what;
  $('#u-secret-value').textContent = secret;
  $('#u-secret').hidden = false;
}
async function createUserOps() {
  const name = $('#u-name').value.trim(), role = $('#u-role').value, label = $('#u-label').value.trim();
  const ok = await runAct($('#u-error'), async () => {
    await api('POST', '/api/v1/users', { name, role });
    const t = await api('POST', '/api/v1/users/' + encodeURIComponent(name) + '/tokens', label ? { label } : {});
    showSecret('Token #' + t.id + ' of the new user ' + name + ' (' + role + ')', t.token);
    setStatus('created user ' + name);
  });
  if (ok) $('#user-form').reset();
  await refresh();
}

// ---- server mode ---------------------------------------------------------------------

async function loadServerOps() {
  const m = await api('GET', '/api/v1/server');
  $('#srv-mode').textContent = m.mode;
  $('#srv-source').textContent = m.mode_source === 'runtime' ? 'set at run time (kept across restarts)' : 'the config file ([ingest] mode)';
  $('#srv-key').textContent = m.shared_key_set ? 'set (never shown)' : 'none';
  if (!ops.srvTouched) $('#srv-new-mode').value = m.mode;
}
async function setServerOps() {
  const mode = $('#srv-new-mode').value, key = $('#srv-new-key').value;
  const ok = await runAct($('#srv-error'), async () => {
    const what = mode === 'registration' ? 'only registered, approved sensors with a key of their own are admitted; '
      + 'connections of sensors without one are closed'
      : 'any v4 uuid signing with the shared key is admitted (unknown ones are created approved)';
    if (!confirm('Switch the ingest to ' + mode + ' mode? ' + what + '.')) return false;
    const body = { mode };
    if (key) body.shared_key = key;
    await api('PUT', '/api/v1/server', body);
    setStatus('server mode: ' + mode);
  });
  if (ok) { $('#srv-new-key').value = ''; ops.srvTouched = false; }
  await refresh();
}

// ---- wiring -----------------------------------------------------------------------------

const loadDashboardBase = loaders.dashboard;
loaders.dashboard = async () => { await loadDashboardBase(); await dashboardCharts(); };
loaders.sensors = loadSensorsOps;
loaders.pending = loadPendingOps;
loaders.blocklist = loadBlocklistOps;
loaders.types = loadTypesOps;
loaders.users = loadUsersOps;
loaders.server = loadServerOps;
ADMIN_VIEWS.add('users');
ADMIN_VIEWS.add('server');
signInHooks.push((me) => { ops.me = me.user; applyRole(); });
signOutHooks.push(() => {
  state.selected = null;
  ops.sensorLoaded = null;
  ops.rowErr.clear();
  for (const id of ['#sd-secret', '#u-secret', '#sensor-detail']) $(id).hidden = true;
  $('#sd-secret-value').textContent = '';
  $('#u-secret-value').textContent = '';
  applyRole();
});
// a secret is shown once: leaving the view forgets it
window.addEventListener('hashchange', () => {
  $('#sd-secret').hidden = true;
  $('#sd-secret-value').textContent = '';
  $('#u-secret').hidden = true;
  $('#u-secret-value').textContent = '';
});

document.addEventListener('DOMContentLoaded', () => {
  applyRole();
  for (const b of document.querySelectorAll('#sd-actions [data-act]')) b.addEventListener('click', () => sensorActOps(b.dataset.act));
  $('#sd-kick-form').addEventListener('submit', (e) => { e.preventDefault(); kickOps(); });
  $('#sd-edit-form').addEventListener('submit', (e) => { e.preventDefault(); saveSensorOps(); });
  $('#sd-edit-reset').addEventListener('click', () => { ops.sensorLoaded = null; $('#sd-edit-error').textContent = ''; refresh(); });
  $('#sd-secret-hide').addEventListener('click', () => { $('#sd-secret').hidden = true; $('#sd-secret-value').textContent = ''; });
  $('#u-secret-hide').addEventListener('click', () => { $('#u-secret').hidden = true; $('#u-secret-value').textContent = ''; });
  $('#sd-metric').addEventListener('change', refresh);
  $('#dash-metric').addEventListener('change', refresh);
  $('#block-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const ok = await runAct($('#block-error'), () => api('POST', '/api/v1/blocklist',
      { kind: $('#block-kind').value, value: $('#block-value').value.trim() }));
    if (ok) $('#block-value').value = '';
    await refresh();
  });
  $('#ext-form').addEventListener('submit', (e) => { e.preventDefault(); addExtTypeOps(); });
  $('#user-form').addEventListener('submit', (e) => { e.preventDefault(); createUserOps(); });
  $('#srv-form').addEventListener('submit', (e) => { e.preventDefault(); setServerOps(); });
  $('#srv-new-mode').addEventListener('change', () => { ops.srvTouched = true; });
});
