// d4hub web page: a thin client of the REST API (openapi/d4hub.yaml).
// Everything the page shows comes from the API with the operator's token;
// every state change is a POST/PUT/DELETE with that token in a header (never a
// cookie), so there is nothing for a cross-site request to ride on. All text
// from the hub is inserted with textContent: sensor descriptions, errors and
// addresses come from the network and are never interpreted as HTML.
'use strict';

const TYPE_NAMES = {1: 'pcap', 2: 'meta header', 3: 'log line', 4: 'dnscap', 5: 'pcapng', 6: 'NDJSON',
  7: 'YAF', 8: 'passivedns CSV', 254: 'extended (meta header)'};
const state = { token: sessionStorage.getItem('d4hub-token') || '', view: 'dashboard', timer: null, selected: null, role: '',
  partner: null, rulesOf: null, deleting: new Set(), bsVictim: null };

const $ = (sel) => document.querySelector(sel);

function setStatus(text, isError) {
  const el = $('#status');
  el.textContent = text || '';
  el.className = isError ? 'error' : 'hint';
}

async function api(method, path, body) {
  const opts = { method, headers: { 'Authorization': 'Bearer ' + state.token } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  if (r.status === 401) {
    signOut('Your token was refused (expired or revoked?). Sign in again.');
    throw new Error('unauthorized');
  }
  if (r.status === 204) return null;
  const type = r.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await r.json() : await r.text();
  if (!r.ok) {
    const detail = data && data.detail ? data.detail : r.statusText;
    const err = new Error(detail);
    err.status = r.status;
    throw err;
  }
  return data;
}

function fmtNum(n) { return typeof n === 'number' ? n.toLocaleString('en') : '–'; }
function fmtBytes(n) {
  if (typeof n !== 'number') return '–';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}
function fmtTime(t) { return t ? t.replace('T', ' ').replace('Z', ' UTC') : '–'; }

function row(cells, onClick) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? '–' : String(c);
    tr.appendChild(td);
  }
  if (onClick) { tr.classList.add('clickable'); tr.addEventListener('click', onClick); }
  return tr;
}
function fill(tableSel, rows) {
  const tb = $(tableSel + ' tbody');
  tb.replaceChildren(...rows);
}
// An empty list says so in words ("nothing yet", "no match") instead of
// showing the headers of an empty table.
function emptyTable(tableSel, hintSel, n) {
  $(tableSel).hidden = n === 0;
  $(hintSel).hidden = n > 0;
}
function button(label, onClick) {
  const b = document.createElement('button');
  b.textContent = label;
  b.addEventListener('click', (e) => { e.stopPropagation(); onClick(); });
  return b;
}
function statusSpan(s) {
  const sp = document.createElement('span');
  sp.textContent = s;
  sp.className = 'status-' + s;
  return sp;
}

// ---- views ----------------------------------------------------------------

async function loadDashboard() {
  const [tot, daily, health] = await Promise.all([
    api('GET', '/api/v1/stats/totals'), api('GET', '/api/v1/stats/daily?days=1'), fetch('/health').then((r) => r.json())]);
  $('#tot-frames').textContent = fmtNum(tot.frames);
  $('#tot-bytes').textContent = fmtBytes(tot.bytes);
  $('#tot-rejects').textContent = fmtNum(Object.values(tot.rejections || {}).reduce((a, b) => a + b, 0));
  $('#store-state').textContent = health.store && health.store.paused ? 'paused: ' + health.store.pause_reason : 'ok';
  // The ingest mode is an admin setting (switch it with PUT /api/v1/server or d4hubctl server mode).
  $('#mode-card').hidden = state.role !== 'admin';
  if (state.role === 'admin') {
    const m = await api('GET', '/api/v1/server');
    $('#server-mode').textContent = m.mode + (m.mode_source === 'runtime' ? ' (set at run time)' : ' (config)');
  }
  const bySensor = new Map(), byType = new Map();
  for (const it of daily.items) {
    const s = bySensor.get(it.sensor) || { packets: 0, bytes: 0, rejects: 0 };
    s.packets += it.packets; s.bytes += it.bytes; s.rejects += it.rejects;
    bySensor.set(it.sensor, s);
    const t = byType.get(it.type) || { packets: 0, bytes: 0 };
    t.packets += it.packets; t.bytes += it.bytes;
    byType.set(it.type, t);
  }
  fill('#today-sensors', [...bySensor].map(([u, s]) => row([u, fmtNum(s.packets), fmtBytes(s.bytes), fmtNum(s.rejects)])));
  fill('#today-types', [...byType].map(([t, s]) => row([t + ' (' + (TYPE_NAMES[t] || '?') + ')', fmtNum(s.packets), fmtBytes(s.bytes)])));
}

async function loadSensors() {
  const f = $('#sensor-filter').value;
  const data = await api('GET', '/api/v1/sensors?limit=1000' + (f ? '&status=' + encodeURIComponent(f) : ''));
  fill('#sensor-table', data.items.map((s) => row([s.uuid, statusSpan(s.status), s.description, fmtNum(s.packets),
    fmtBytes(s.bytes), fmtTime(s.last_seen), s.last_error], () => showSensor(s.uuid))));
  if (state.selected) await showSensor(state.selected);
}

async function showSensor(uuid) {
  state.selected = uuid;
  const s = await api('GET', '/api/v1/sensors/' + encodeURIComponent(uuid));
  $('#sensor-detail').hidden = false;
  $('#sd-uuid').textContent = s.uuid;
  const dl = $('#sd-fields');
  const fields = [['Status', s.status], ['Description', s.description], ['Mail', s.mail], ['Packets', fmtNum(s.packets)],
    ['Bytes', fmtBytes(s.bytes)], ['First seen', fmtTime(s.first_seen)], ['Last seen', fmtTime(s.last_seen)],
    ['Default TLP', s.default_tlp], ['Banned until', fmtTime(s.ban_until)], ['Last error', s.last_error]];
  dl.replaceChildren();
  for (const [k, v] of fields) {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v === null || v === undefined || v === '' ? '–' : v;
    if (k === 'Packets') dd.id = 'sd-packets';
    if (k === 'Status') dd.id = 'sd-status';
    dl.append(dt, dd);
  }
  fill('#sd-types', (s.types || []).map((t) => row([t.type, t.ext_type, fmtNum(t.packets), fmtBytes(t.bytes), fmtTime(t.last_seen)])));
  fill('#sd-history', (s.history || []).map((h) => row([h.day, fmtNum(h.packets), fmtBytes(h.bytes), fmtNum(h.rejects)])));
  fill('#sd-rejects', Object.entries(s.rejections || {}).filter(([, n]) => n > 0).map(([r, n]) => row([r, fmtNum(n)])));
  $('#sd-ips').replaceChildren(...(s.last_ips || []).map((ip) => {
    const li = document.createElement('li'); li.textContent = ip.ip + ' (' + fmtTime(ip.seen) + ')'; return li;
  }));
}

async function sensorAction(act) {
  if (!state.selected) return;
  await api('POST', '/api/v1/sensors/' + encodeURIComponent(state.selected) + '/' + act, act === 'kick' ? {} : undefined);
  setStatus(act + ': done');
  await refresh();
}

async function loadPending() {
  const data = await api('GET', '/api/v1/sensors?status=pending&limit=1000');
  $('#pending-empty').hidden = data.items.length > 0;
  fill('#pending-table', data.items.map((s) => row([s.uuid, s.mail || '–', fmtTime(s.first_seen || s.created),
    button('Approve', async () => {
      await api('POST', '/api/v1/sensors/' + encodeURIComponent(s.uuid) + '/approve');
      setStatus('approved ' + s.uuid);
      await refresh();
    })])));
}

async function loadBlocklist() {
  const data = await api('GET', '/api/v1/blocklist');
  fill('#block-table', data.items.map((b) => row([b.kind, b.value, fmtTime(b.created), button('Remove', async () => {
    await api('DELETE', '/api/v1/blocklist/' + encodeURIComponent(b.kind) + '/' + encodeURIComponent(b.value));
    await refresh();
  })])));
}

async function loadTypes() {
  const t = await api('GET', '/api/v1/types');
  const known = [1, 2, 3, 4, 5, 6, 7, 8, 254];
  fill('#types-table', known.map((n) => {
    const cb = document.createElement('input');
    cb.type = 'checkbox';
    cb.checked = t.accepted.includes(n);
    cb.addEventListener('change', async () => {
      await api('PUT', '/api/v1/types/' + n, { accepted: cb.checked });
      await refresh();
    });
    return row([n, TYPE_NAMES[n], cb]);
  }));
  $('#ext-all').textContent = t.all_ext_types_accepted ? 'No list: every extended type is accepted.' : 'Only these extended types are accepted:';
  $('#ext-list').replaceChildren(...t.ext_types.map((x) => { const li = document.createElement('li'); li.textContent = x; return li; }));
}

// Analyzer queues: list with depth, drops and alert; create, clear the alert, flush, delete, preview.
function queueFilter(q) {
  let f = String(q.type) + (TYPE_NAMES[q.type] ? ' (' + TYPE_NAMES[q.type] + ')' : '');
  if (q.ext_type) f += ' / ' + q.ext_type;
  if (q.sensors.length) f += ', ' + q.sensors.length + ' sensor' + (q.sensors.length > 1 ? 's' : '');
  return f;
}
function payloadText(b64) {
  // Payloads are sensor data: shown as text with control bytes replaced, via textContent only.
  const bin = atob(b64 || '');
  let out = '';
  for (let i = 0; i < bin.length && out.length < 120; i++) {
    const c = bin.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f ? bin[i] : '.';
  }
  return out;
}
async function previewQueue(q) {
  const data = await api('GET', '/api/v1/queues/' + q.id + '/preview?limit=20');
  $('#queue-preview').hidden = false;
  $('#qp-name').textContent = q.name;
  fill('#qp-table', data.items.map((e) => e.expired ? row([e.pos, 'expired (retention)', '', '', '', ''])
    : e.withheld ? row([e.pos, 'withheld (above your TLP clearance)', '', '', '', ''])
      : row([e.pos, e.sensor, e.type, fmtTime(e.received), fmtNum(e.size), payloadText(e.payload_b64)])));
}
async function loadQueues() {
  const data = await api('GET', '/api/v1/queues?limit=1000');
  fill('#queue-table', data.items.map((q) => {
    const alert = document.createElement('span');
    alert.textContent = q.alert ? 'DROPS' : 'ok';
    alert.className = q.alert ? 'error' : 'hint';
    const acts = document.createElement('span');
    acts.className = 'actions';
    acts.append(button('Preview', () => previewQueue(q).catch((e) => setStatus(e.message, true))));
    if (q.alert) {
      acts.append(button('Clear alert', async () => {
        await api('PATCH', '/api/v1/queues/' + q.id, { alert: false }).catch((e) => setStatus(e.message, true));
        await refresh();
      }));
    }
    acts.append(button('Flush', async () => {
      if (!confirm('Flush every entry of queue ' + q.name + '?')) return;
      await api('POST', '/api/v1/queues/' + q.id + '/flush').catch((e) => setStatus(e.message, true));
      await refresh();
    }));
    acts.append(button('Delete', async () => {
      if (!confirm('Delete queue ' + q.name + '?')) return;
      await api('DELETE', '/api/v1/queues/' + q.id).catch((e) => setStatus(e.message, true));
      $('#queue-preview').hidden = true;
      await refresh();
    }));
    return row([q.id, q.name, queueFilter(q), fmtNum(q.depth) + ' / ' + fmtNum(q.max_entries), fmtNum(q.enqueued),
      fmtNum(q.dropped), fmtNum(q.consumed), alert, acts]);
  }));
}
async function createQueue() {
  const body = { name: $('#queue-name').value.trim(), type: Number($('#queue-type').value),
    max_entries: Number($('#queue-max').value) };
  const ext = $('#queue-ext').value.trim();
  if (ext) body.ext_type = ext;
  const sensors = $('#queue-sensors').value.split(',').map((x) => x.trim()).filter((x) => x);
  if (sensors.length) body.sensors = sensors;
  const q = await api('POST', '/api/v1/queues', body);
  setStatus('created queue ' + q.id + ' (' + q.name + ')');
  $('#queue-name').value = '';
  await refresh();
}
async function updateQueueBadge() {
  const data = await api('GET', '/api/v1/queues?limit=1000');
  const n = data.items.filter((q) => q.alert).length;
  $('#queue-alerts').textContent = n ? String(n) : '';
}

// Federation partners (admin only: the view is not offered to another role, and the API refuses
// every partner operation to it): the list, each partner's status, and their management.
function sumCounts(obj) { return Object.values(obj || {}).reduce((a, b) => a + b, 0); }
function countsText(obj) {
  const e = Object.entries(obj || {});
  return e.length ? e.map(([k, n]) => k + ' ' + fmtNum(n)).join(', ') : '–';
}
function partnerTotals(st) {
  const t = { sent: 0, received: 0, refused: 0, lastAck: null, lag: null, error: null };
  for (const k of Object.values(st.kinds)) {
    t.sent += k.acknowledged.records;
    t.received += k.received.records;
    t.refused += sumCounts(k.received.refused);
    if (k.acknowledged.last_ack && (!t.lastAck || k.acknowledged.last_ack > t.lastAck)) t.lastAck = k.acknowledged.last_ack;
    for (const job of [k.sender, k.fetch]) {
      if (!job) continue;
      if (k.sender === job) t.lag = (t.lag || 0) + job.lag_records;
      if (job.last_error) t.error = job.last_error;
    }
  }
  t.refused += sumCounts(st.port.refused);
  return t;
}
function partnerPath(name, sub) { return '/api/v1/partners/' + encodeURIComponent(name) + (sub || ''); }
async function showPartner(name) {
  if (state.partner !== name) {
    // Another partner: its rules are loaded once (a refresh never overwrites an edit in progress).
    state.partner = name;
    state.rulesOf = null;
    $('#pd-rules').value = '';
    $('#pd-rules-error').textContent = '';
    $('#pd-dry-error').textContent = '';
    $('#pd-dry-result').hidden = true;
  }
  const st = await api('GET', partnerPath(name, '/status'));
  $('#partner-detail').hidden = false;
  $('#pd-name').textContent = st.name;
  if (state.rulesOf !== name) await loadRules(name);
  fill('#pd-kinds', Object.entries(st.kinds).map(([kind, k]) => row([kind, k.outbound ? 'shared' : '–', k.inbound ? 'accepted' : '–',
    k.sender ? (k.sender.connected ? 'connected' : 'not connected') + ', lag ' + fmtNum(k.sender.lag_records) : '–',
    fmtNum(k.acknowledged.records) + ' records, ' + fmtNum(k.acknowledged.batches) + ' batches',
    countsText(k.acknowledged.decisions),
    fmtNum(k.received.records) + ' records, ' + fmtNum(k.received.duplicates) + ' duplicates',
    countsText(k.received.refused)])));
  fill('#pd-port', Object.entries(st.port.refused).map(([r, n]) => row([r, fmtNum(n)])));
}
function partnerActions(p) {
  const acts = document.createElement('span');
  acts.className = 'actions';
  acts.append(button(p.enabled ? 'Disable' : 'Enable', async () => {
    try {
      await api('PATCH', partnerPath(p.name), { enabled: !p.enabled });
      setStatus((p.enabled ? 'disabled ' : 'enabled ') + p.name);
    } catch (e) { setStatus(e.message, true); }
    await refresh();
  }));
  acts.append(button('Delete', async () => {
    if (!confirm('Delete partner ' + p.name + '? Nothing more is exchanged with it; its rules and what it acknowledged '
      + 'go with it (created again, it starts from the beginning). Records received from it stay.')) return;
    // A refresh running meanwhile must not ask for the status of a partner being deleted.
    state.deleting.add(p.name);
    if (state.partner === p.name) { state.partner = null; $('#partner-detail').hidden = true; }
    try {
      await api('DELETE', partnerPath(p.name));
      setStatus('deleted ' + p.name);
    } catch (e) { setStatus(e.message, true); }
    state.deleting.delete(p.name);
    await refresh();
  }));
  return acts;
}
async function loadPartners() {
  const data = await api('GET', '/api/v1/partners');
  const rows = [];
  for (const p of data.items) {
    if (state.deleting.has(p.name)) continue;
    let st;
    try {
      st = await api('GET', partnerPath(p.name, '/status'));
    } catch (e) {
      if (e.status === 404) continue; // deleted since the list was read (d4hubctl, another tab)
      throw e;
    }
    const t = partnerTotals(st);
    rows.push(row([p.name, p.relation, p.direction, p.enabled ? 'yes' : 'no', (p.outbound_kinds || []).join(', ') || '–',
      fmtNum(t.sent), fmtTime(t.lastAck), t.lag === null ? '–' : fmtNum(t.lag), fmtNum(t.received), fmtNum(t.refused),
      t.error, partnerActions(p)], () => showPartner(p.name).catch((e) => setStatus(e.message, true))));
  }
  fill('#partner-table', rows);
  if (state.partner && !data.items.some((p) => p.name === state.partner)) {
    state.partner = null;
    $('#partner-detail').hidden = true;
  }
  if (state.partner) await showPartner(state.partner);
}

// Managing partners: every change is one call of the partners API, which checks the whole
// document and names the member it refuses; its message is shown next to the form.
function parseRules(text) {
  let r;
  try {
    r = JSON.parse(text);
  } catch (e) {
    throw new Error('rules: not valid JSON (' + e.message + ')');
  }
  if (!r || typeof r !== 'object' || Array.isArray(r)) throw new Error('rules: a JSON object of outbound and inbound');
  for (const k of Object.keys(r))
    if (k !== 'outbound' && k !== 'inbound') throw new Error('rules: ' + k + ': only outbound and inbound belong here');
  return r;
}
async function loadRules(name) {
  const p = await api('GET', partnerPath(name));
  if (state.partner !== name) return;
  $('#pd-rules').value = JSON.stringify({ outbound: p.outbound, inbound: p.inbound }, null, 2);
  state.rulesOf = name;
}
async function saveRules() {
  const name = state.partner;
  if (!name) return;
  $('#pd-rules-error').textContent = '';
  try {
    await api('PATCH', partnerPath(name), parseRules($('#pd-rules').value));
    setStatus('rules of ' + name + ' saved');
    state.rulesOf = null;
    await loadRules(name);
  } catch (e) {
    if (e.message !== 'unauthorized') $('#pd-rules-error').textContent = e.message;
    return;
  }
  await refresh();
}
function dryKindChanged() {
  const kind = $('#pd-dry-kind').value;
  for (const el of document.querySelectorAll('#pd-dry-form .dry-frames')) el.hidden = kind !== 'frames';
  for (const el of document.querySelectorAll('#pd-dry-form .dry-pdns')) el.hidden = kind !== 'pdns';
}
async function dryRun() {
  const name = state.partner;
  if (!name) return;
  const kind = $('#pd-dry-kind').value;
  const rec = { kind };
  const tlp = $('#pd-dry-tlp').value;
  if (tlp) rec.tlp = tlp;
  const tags = $('#pd-dry-tags').value.split(',').map((x) => x.trim()).filter((x) => x);
  if (tags.length) rec.tags = tags;
  if (kind === 'frames' && $('#pd-dry-type').value !== '') rec.type = Number($('#pd-dry-type').value);
  if (kind === 'pdns') {
    rec.rrname = $('#pd-dry-rrname').value.trim();
    rec.rrtype = Number($('#pd-dry-rrtype').value);
    if ($('#pd-dry-rdata').value.trim()) rec.rdata = $('#pd-dry-rdata').value.trim();
  }
  $('#pd-dry-error').textContent = '';
  $('#pd-dry-result').hidden = true;
  try {
    const v = await api('POST', partnerPath(name, '/dry-run'), rec);
    $('#pd-dry-decision').textContent = v.decision;
    $('#pd-dry-decision').className = v.decision === 'refuse' ? 'error' : 'status-approved';
    $('#pd-dry-reason').textContent = v.reason;
    $('#pd-dry-text').textContent = v.explanation;
    $('#pd-dry-level').textContent = v.level;
    $('#pd-dry-result').hidden = false;
  } catch (e) {
    if (e.message !== 'unauthorized') $('#pd-dry-error').textContent = e.message;
  }
}
async function createPartner() {
  $('#pc-error').textContent = '';
  const body = { name: $('#pc-name').value.trim(), url: $('#pc-url').value.trim(), hub_uuid: $('#pc-hub').value.trim(),
    org_uuid: $('#pc-org').value.trim(), relation: $('#pc-relation').value, direction: $('#pc-direction').value };
  const ca = $('#pc-ca').value.trim();
  if (ca) body.ca_pem = ca + '\n';
  const pin = $('#pc-pin').value.trim();
  if (pin) body.spki_sha256 = pin;
  try {
    Object.assign(body, parseRules($('#pc-rules').value));
    const p = await api('POST', '/api/v1/partners', body);
    setStatus('created partner ' + p.name + (p.outbound_kinds && p.outbound_kinds.length ? '' : ': it shares nothing yet'));
    $('#partner-form').reset();
  } catch (e) {
    if (e.message !== 'unauthorized') $('#pc-error').textContent = e.message;
    return;
  }
  await refresh();
}

// Backscatter: ongoing attacks, the last 24 hours, one victim's vectors; what the
// role's clearance allows (the API filters), the consumer's counters for admins only.
function fmtEpoch(t) { return typeof t === 'number' ? fmtTime(new Date(Math.floor(t) * 1000).toISOString().replace('.000', '')) : '–'; }
function portsText(v) { return (v.ports || []).map((p) => p.port + ' (' + fmtNum(p.packets) + ')').join(', ') || '–'; }
function victimLink(v) {
  const a = document.createElement('a');
  a.href = '#backscatter';
  a.className = 'bs-victim-link';
  a.textContent = v.victim;
  a.addEventListener('click', (e) => { e.preventDefault(); showVictim(v.victim).catch((err) => setStatus(err.message, true)); });
  return a;
}
async function showVictim(victim) {
  const data = await api('GET', '/api/v1/backscatter/vectors?limit=1000&victim=' + encodeURIComponent(victim));
  state.bsVictim = victim;
  $('#bs-search-error').textContent = '';
  $('#bs-victim').hidden = false;
  $('#bs-v-addr').textContent = victim;
  fill('#bs-v-table', data.items.map((v) => row([v.kind, v.state, fmtEpoch(v.first), fmtEpoch(v.last), fmtNum(v.packets),
    fmtNum(v.peak_ppm), v.est_valid && typeof v.est_pps === 'number' ? fmtNum(Math.round(v.est_pps)) + '/s' : '–',
    portsText(v), (v.sensors || []).join(', ') + (v.sensors_more ? ' …' : ''), v.tlp])));
  emptyTable('#bs-v-table', '#bs-v-empty', data.items.length);
}
async function loadBackscatter() {
  const since = Math.floor(Date.now() / 1000) - 86400;
  const [ongoing, recent, sum] = await Promise.all([
    api('GET', '/api/v1/backscatter/vectors?ongoing=true&limit=100'),
    api('GET', '/api/v1/backscatter/vectors?limit=100&since=' + since),
    api('GET', '/api/v1/backscatter/summary?from=' + new Date().toISOString().slice(0, 10))]);
  const today = sum.days[sum.days.length - 1] || {};
  $('#bs-clearance').textContent = sum.clearance;
  $('#bs-n-ongoing').textContent = ongoing.next_cursor ? '100+' : fmtNum(ongoing.items.length);
  $('#bs-n-today').textContent = fmtNum(today.vectors);
  $('#bs-victims-today').textContent = fmtNum(today.victims);
  $('#bs-packets-today').textContent = fmtNum(today.packets);
  $('#bs-ongoing-count').textContent = ongoing.items.length ? String(ongoing.items.length) : '';
  fill('#bs-ongoing', ongoing.items.map((v) => row([victimLink(v), v.kind, fmtEpoch(v.first), fmtEpoch(v.last), fmtNum(v.packets),
    fmtNum(v.peak_ppm), portsText(v), v.tlp])));
  fill('#bs-recent', recent.items.map((v) => row([victimLink(v), v.kind, v.state, fmtEpoch(v.first), fmtEpoch(v.last),
    fmtNum(v.packets), portsText(v), v.tlp])));
  emptyTable('#bs-ongoing', '#bs-ongoing-empty', ongoing.items.length);
  emptyTable('#bs-recent', '#bs-recent-empty', recent.items.length);
  // "nothing yet": no vector at all that this role may see, not only none lately
  const any = ongoing.items.length || recent.items.length ||
    (await api('GET', '/api/v1/backscatter/vectors?limit=1')).items.length;
  $('#bs-empty').hidden = Boolean(any);
  $('#bs-counters-box').hidden = state.role !== 'admin';
  if (state.role === 'admin') {
    const c = await api('GET', '/api/v1/backscatter/counters');
    fill('#bs-counters', c.sensors.map((x) => row([x.sensor, fmtNum(x.frames), fmtNum(x.packets), fmtNum(x.backscatter),
      fmtNum(x.bad_packets), fmtNum(x.dropped)])));
    emptyTable('#bs-counters', '#bs-counters-empty', c.sensors.length);
  }
  if (state.bsVictim) await showVictim(state.bsVictim);
}

async function updatePendingBadge() {
  const data = await api('GET', '/api/v1/sensors?status=pending&limit=1000');
  $('#pending-count').textContent = data.items.length ? String(data.items.length) : '';
}

const loaders = { dashboard: loadDashboard, sensors: loadSensors, pending: loadPending, blocklist: loadBlocklist, types: loadTypes,
  queues: loadQueues, partners: loadPartners, backscatter: loadBackscatter };

async function refresh() {
  if (!state.token) return;
  try {
    await loaders[state.view]();
    await updatePendingBadge();
    await updateQueueBadge();
  } catch (e) {
    if (e.message !== 'unauthorized') setStatus(e.message, true);
  }
}

// view is the URL fragment: a view's name, then for some views a route
// ("certificates/cert/SHA1", pssl.js).
function show(view) {
  const [name, ...route] = view.split('/');
  state.route = route;
  state.view = loaders[name] && (name !== 'partners' || state.role === 'admin') ? name : 'dashboard';
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== state.view;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === state.view);
  clearInterval(state.timer);
  state.timer = setInterval(refresh, 5000);
  refresh();
}

function signOut(message) {
  state.token = '';
  state.bsVictim = null;
  if (typeof psReset === 'function') psReset();
  if (typeof pdReset === 'function') pdReset();
  sessionStorage.removeItem('d4hub-token');
  clearInterval(state.timer);
  $('#nav').hidden = true;
  $('#nav-partners').hidden = true;
  $('#who').textContent = '';
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== 'signin';
  $('#signin-error').textContent = message || '';
}

async function signIn(token) {
  state.token = token;
  try {
    const me = await api('GET', '/api/v1/me');
    sessionStorage.setItem('d4hub-token', token);
    state.role = me.role;
    $('#who').textContent = me.user + ' (' + me.role + ')';
    $('#nav-partners').hidden = me.role !== 'admin';
    $('#nav').hidden = false;
    show((location.hash || '#dashboard').slice(1));
  } catch (e) {
    if (e.message !== 'unauthorized') signOut('Sign-in failed: ' + e.message);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('#signin-form').addEventListener('submit', (e) => { e.preventDefault(); signIn($('#token').value.trim()); });
  $('#sensor-filter').addEventListener('change', refresh);
  for (const b of document.querySelectorAll('#sensor-detail .actions button'))
    b.addEventListener('click', () => sensorAction(b.dataset.act).catch((e) => setStatus(e.message, true)));
  $('#block-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('POST', '/api/v1/blocklist', { kind: $('#block-kind').value, value: $('#block-value').value.trim() });
      $('#block-value').value = '';
      await refresh();
    } catch (err) { setStatus(err.message, true); }
  });
  $('#queue-form').addEventListener('submit', (e) => {
    e.preventDefault();
    createQueue().catch((err) => setStatus(err.message, true));
  });
  $('#partner-form').addEventListener('submit', (e) => { e.preventDefault(); createPartner(); });
  $('#pd-rules-form').addEventListener('submit', (e) => { e.preventDefault(); saveRules(); });
  $('#pd-rules-reload').addEventListener('click', () => {
    $('#pd-rules-error').textContent = '';
    if (state.partner) loadRules(state.partner).catch((err) => setStatus(err.message, true));
  });
  $('#bs-search').addEventListener('submit', (e) => {
    e.preventDefault();
    showVictim($('#bs-victim-input').value.trim()).catch((err) => { $('#bs-search-error').textContent = err.message; });
  });
  $('#pd-dry-kind').addEventListener('change', dryKindChanged);
  $('#pd-dry-form').addEventListener('submit', (e) => { e.preventDefault(); dryRun(); });
  window.addEventListener('hashchange', () => { if (state.token) show(location.hash.slice(1)); });
  if (state.token) signIn(state.token); else signOut();
});
