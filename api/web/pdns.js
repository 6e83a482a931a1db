// d4hub web page: the passive-DNS search, loaded after app.js and using its
// helpers. Every search is a DNSDB API v2 lookup of the hub (/dnsdb/v2, SAF
// lines, one RR per record: aggr=f), paged with the sealed cursor the API
// gives (D4-Next-Cursor); the view reads nothing the API does not offer to
// dnsdbq. The search lives in the URL fragment, so that it can be
// bookmarked, reloaded and walked back with the browser's back button:
//   #pdns                                   the store's figures, "nothing yet"
//   #pdns/q/KIND/VALUE[/PARAMS]             a search: KIND below, VALUE encoded,
//                                           PARAMS the filters as a query string
// Names and rdata are hostile input (a TXT record holds whatever its owner
// wrote): every value goes into the page through textContent or an attribute
// set by the DOM, never through innerHTML.
'use strict';

const PDNS_KINDS = { name: 'name', rdata: 'name in rdata', ip: 'IP, network or range', raw: 'raw rdata (hex)' };
const PDNS_PATH = { name: 'rrset/name/', rdata: 'rdata/name/', ip: 'rdata/ip/', raw: 'rdata/raw/' };
const PDNS_PAGES = [25, 50, 100, 500];
const PDNS_PAGE = 50;
// The DNSDB time fences, each with its own input.
const PDNS_FENCES = [['time_first_after', '#pdns-tfa', 'first seen after'], ['time_first_before', '#pdns-tfb', 'first seen before'],
  ['time_last_after', '#pdns-tla', 'last seen after'], ['time_last_before', '#pdns-tlb', 'last seen before']];
// Types whose rdata is one name, and where the name sits in the others: a
// pivot searches the records of that name.
const PDNS_NAME_TYPES = new Set(['NS', 'CNAME', 'PTR', 'DNAME', 'MD', 'MF', 'MB', 'MG', 'MR']);
const PDNS_NAME_FIELD = { MX: 1, AFSDB: 1, RT: 1, KX: 1, SRV: 3, SOA: 0, SVCB: 1, HTTPS: 1, NAPTR: -1 };

const pd = { route: '', gen: 0, cursors: [null], page: 0, next: null, search: null, summary: null };
const PDNS_STALE = new Error('superseded');
function pdFresh(gen) { if (gen !== pd.gen) throw PDNS_STALE; }

// What a value typed with "guess" is: an address, network or range when it
// holds a ':' or only digits and ". , / -" (the hub's own rule for
// /pdns/query: no host name is all digits), else a name.
function pdGuess(v) {
  return v.includes(':') || (/^[0-9./,-]+$/.test(v) && /[0-9]/.test(v)) ? 'ip' : 'name';
}

// A time fence as typed: epoch seconds, a negative number of seconds or
// -Nm/-Nh/-Nd/-Nw (relative to now, as the API takes them), or a UTC date
// "YYYY-MM-DD[ HH:MM[:SS]]". Returns the API's value or throws.
function pdFence(text, label) {
  const v = text.trim();
  if (v === '') return null;
  if (/^-?[0-9]{1,12}$/.test(v)) return v;
  let m = /^-([0-9]{1,9})([smhdw])$/.exec(v);
  if (m) return String(-Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]]);
  m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?)?Z?$/.exec(v);
  if (m) {
    const t = Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0));
    const d = new Date(t);
    if (d.getUTCFullYear() === +m[1] && d.getUTCMonth() === +m[2] - 1 && d.getUTCDate() === +m[3] && +(m[4] || 0) < 24 &&
      +(m[5] || 0) < 60 && +(m[6] || 0) < 60 && t >= 0) return String(t / 1000);
  }
  throw new Error(label + ': "' + v + '" is not a time (a UTC date like 2026-12-01 or 2026-12-01 14:30, epoch seconds, '
    + 'or relative like -7d, -12h)');
}

// ---- the API ----------------------------------------------------------------

// The lookup's path and query string for one page. The rrtype goes as a
// query parameter (every lookup takes it); an address written a/n goes as
// DNSDB's a,n (a '/' would split the path).
function pdPath(s, what, extra) {
  let v = s.value;
  if (s.kind === 'ip') v = v.replace('/', ',');
  if (s.kind === 'raw') v = v.toLowerCase();
  const q = new URLSearchParams();
  if (s.rrtype) q.set('rrtype', s.rrtype);
  for (const [k] of PDNS_FENCES) if (s.api[k] !== undefined) q.set(k, s.api[k]);
  for (const [k, val] of Object.entries(extra || {})) q.set(k, val);
  return '/dnsdb/v2/' + what + '/' + PDNS_PATH[s.kind] + encodeURIComponent(v) + (q.toString() ? '?' + q.toString() : '');
}

// One SAF answer: its records, the cursor of the next page and the
// caller's clearance. A 4xx/5xx is thrown with the problem's detail; an
// answer without its closing line (the stream broke) is an error, not a
// short page.
async function pdSaf(path) {
  const r = await fetch(path, { headers: { 'Authorization': 'Bearer ' + state.token, 'Accept': 'application/x-ndjson' } });
  if (r.status === 401) {
    signOut('Your token was refused (expired or revoked?). Sign in again.');
    throw new Error('unauthorized');
  }
  const text = await r.text();
  if (!r.ok) {
    let detail = r.statusText || 'HTTP ' + r.status;
    try { detail = JSON.parse(text).detail || detail; } catch (e) { /* not a problem document */ }
    const err = new Error(detail);
    err.status = r.status;
    throw err;
  }
  const objs = [];
  let cond = null, next = r.headers.get('D4-Next-Cursor');
  for (const line of text.split('\n')) {
    if (!line) continue;
    const o = JSON.parse(line);
    if (o.obj) objs.push(o.obj);
    else if (o.cond && o.cond !== 'begin') {
      cond = o.cond;
      if (o.cond === 'limited' && o.next_cursor && !next) next = o.next_cursor;
      if (o.cond === 'failed') throw new Error('the hub failed the lookup: ' + (o.msg || 'no reason given'));
    }
  }
  if (!cond) throw new Error('the answer ended early (no closing line): try again');
  return { objs, next: cond === 'limited' ? next : null, limited: cond === 'limited', clearance: r.headers.get('D4-Clearance') };
}

// ---- rendering ----------------------------------------------------------------

function pdTime(t) { return typeof t === 'number' ? fmtTime(new Date(t * 1000).toISOString().replace('.000', '')) : '–'; }
function pdHref(kind, value) { return '#pdns/q/' + kind + '/' + encodeURIComponent(value); }
function pdLink(text, kind, value, cls) {
  const a = document.createElement('a');
  a.href = pdHref(kind, value);
  a.textContent = text;
  a.className = 'pdns-pivot ' + cls;
  a.title = 'search ' + PDNS_KINDS[kind] + ' ' + value;
  return a;
}

// The name an rdata points to (a pivot): {name, before, after} (the rdata
// around it), or null. The one-field MX/SRV of passivedns (docs/pdns.md
// "Name-only forms") is that name; RFC 3597 generic data has none.
function pdRdataName(rrtype, rdata) {
  if (rdata.startsWith('\\#')) return null;
  if (PDNS_NAME_TYPES.has(rrtype)) return rdata !== '.' ? { name: rdata, before: '', after: '' } : null;
  if (!(rrtype in PDNS_NAME_FIELD)) return null;
  const parts = rdata.split(/(\s+)/); // fields at even indexes, the blanks between them at odd ones
  const nf = (parts.length + 1) / 2;
  // NAPTR: the replacement is the last field (its quoted strings may hold blanks)
  let k = PDNS_NAME_FIELD[rrtype] < 0 ? nf - 1 : PDNS_NAME_FIELD[rrtype];
  if (nf === 1 && (rrtype === 'MX' || rrtype === 'SRV')) k = 0;
  const n = parts[2 * k];
  if (!n || n === '.' || /^[0-9]+$/.test(n) || n.includes('"')) return null;
  return { name: n, before: parts.slice(0, 2 * k).join(''), after: parts.slice(2 * k + 1).join('') };
}
function pdRdataCell(o, rdata) {
  if (o.rrtype === 'A' || o.rrtype === 'AAAA') return pdLink(rdata, 'ip', rdata, 'pdns-rdata');
  const t = pdRdataName(o.rrtype, rdata);
  if (t && !t.before && !t.after) return pdLink(rdata, 'name', t.name, 'pdns-rdata');
  const sp = document.createElement('span');
  sp.className = 'pdns-rdata';
  if (t) sp.append(t.before, pdLink(t.name, 'name', t.name, 'pdns-rdata-name'), t.after); // the name inside a longer rdata
  else sp.textContent = rdata;
  return sp;
}
// One row per RR: an rrset record (aggr=f) carries an array of one rdata,
// an rdata record a string; an array of several (never asked for) gives a
// row each.
function pdRows(o) {
  const list = Array.isArray(o.rdata) ? o.rdata : [o.rdata];
  return list.map((rd) => row([pdLink(o.rrname, 'name', o.rrname, 'pdns-rrname'), o.rrtype, pdRdataCell(o, String(rd)),
    pdTime(o.time_first), pdTime(o.time_last), fmtNum(o.count), o.bailiwick || '–']));
}

function pdSetError(text) { $('#pdns-error').textContent = text || ''; }

// ---- the view ---------------------------------------------------------------------

// The search a route describes, its filters checked (a bad fence throws).
function pdSearchOf(kind, value, params) {
  const p = new URLSearchParams(params || '');
  const s = { kind, value, rrtype: (p.get('rrtype') || '').trim().toUpperCase(), text: {}, api: {}, limit: PDNS_PAGE };
  if (s.rrtype === 'ANY') s.rrtype = '';
  const n = Number(p.get('limit'));
  if (PDNS_PAGES.includes(n)) s.limit = n;
  for (const [k, , label] of PDNS_FENCES) {
    const t = p.get(k);
    if (t === null || t.trim() === '') continue;
    s.text[k] = t;
    s.api[k] = pdFence(t, label);
  }
  s.key = [kind, value, s.rrtype, JSON.stringify(s.api), s.limit].join('\n');
  return s;
}
// The form shows the search being displayed.
function pdShowForm(s) {
  $('#pdns-kind').value = s.kind;
  $('#pdns-q').value = s.value;
  $('#pdns-rrtype').value = s.rrtype;
  $('#pdns-limit').value = String(s.limit);
  for (const [k, sel] of PDNS_FENCES) $(sel).value = s.text[k] || '';
}

async function pdRunSearch(s, gen) {
  if (!pd.search || pd.search.key !== s.key) {
    pd.search = s;
    pd.cursors = [null];
    pd.page = 0;
    pd.summary = null;
  }
  s = pd.search;
  const page = await pdSaf(pdPath(s, 'lookup', Object.assign({ aggr: 'f', limit: String(s.limit) },
    pd.cursors[pd.page] ? { cursor: pd.cursors[pd.page] } : {})));
  pdFresh(gen);
  if (!pd.summary) {
    // how many in all (up to the hub's result cap), for the title: a side
    // show, whose failure does not hide the records
    let sum = { objs: [] };
    try {
      sum = await pdSaf(pdPath(s, 'summarize'));
    } catch (e) { if (e.message === 'unauthorized') throw e; }
    pdFresh(gen);
    pd.summary = sum;
  }
  pd.next = page.next;
  if (page.clearance) $('#pdns-clearance').textContent = page.clearance;
  const rows = page.objs.flatMap(pdRows);
  $('#pdns-results').hidden = false;
  $('#pdns-title').textContent = 'Search by ' + PDNS_KINDS[s.kind] + ': ' + s.value + (s.rrtype ? ' (' + s.rrtype + ')' : '');
  const so = pd.summary.objs[0];
  const n = (k, word) => fmtNum(k) + ' ' + word + (k === 1 ? '' : 's');
  $('#pdns-summary').textContent = so ? (pd.summary.limited ? 'more than ' : '') + n(so.num_results, 'record') + ', seen from '
    + pdTime(so.time_first) + ' to ' + pdTime(so.time_last) + ' (' + n(so.count, 'observation') + ')' : '';
  fill('#pdns-table', rows);
  $('#pdns-table').hidden = rows.length === 0;
  $('#pdns-none').hidden = rows.length > 0;
  $('#pdns-prev').disabled = pd.page === 0;
  $('#pdns-next').disabled = !pd.next;
  const first = pd.page * s.limit;
  $('#pdns-page').textContent = 'page ' + (pd.page + 1) + (rows.length ? ', records ' + fmtNum(first + 1) + '–' + fmtNum(first + rows.length) : '');
  $('#pdns-pager').hidden = pd.page === 0 && !pd.next;
}

// The store's figures (every TLP level: counts only) and "nothing yet".
async function pdLoadInfo() {
  const info = await api('GET', '/pdns/info');
  const ing = info.ingest || {};
  $('#pdns-n-tuples').textContent = fmtNum(info.tuples);
  $('#pdns-n-obs').textContent = fmtNum(ing.observations);
  $('#pdns-n-bad').textContent = ing.running ? fmtNum((ing.bad_lines || 0) + (ing.bad_packets || 0)) : '–';
  $('#pdns-n-lag').textContent = fmtNum(ing.lag_frames);
  $('#pdns-clearance').textContent = info.max_tlp || '–';
  $('#pdns-off').hidden = ing.running !== false;
  $('#pdns-nothing').hidden = info.tuples !== 0;
}

// The view's loader: the figures on every refresh; a search only when the
// route changed (a refresh keeps the page the analyst walked to).
async function loadPdns() {
  const route = state.route || [];
  const key = route.join('/');
  await pdLoadInfo();
  if (state.view !== 'pdns' || (state.route || []).join('/') !== key || key === pd.route) return;
  pd.route = key;
  const gen = ++pd.gen;
  pdSetError('');
  try {
    if (route[0] === 'q' && PDNS_KINDS[route[1]] && route.length >= 3) {
      const s = pdSearchOf(route[1], decodeURIComponent(route[2]), route[3] ? decodeURIComponent(route[3]) : '');
      pdShowForm(s);
      await pdRunSearch(s, gen);
    } else {
      pd.search = null;
      $('#pdns-results').hidden = true;
    }
  } catch (e) {
    if (e === PDNS_STALE) return;
    if (e.message === 'unauthorized') throw e;
    $('#pdns-results').hidden = true;
    pdSetError(e.message);
  }
}

// The form to a route: the filters that are set, as a query string.
function pdSubmit() {
  const value = $('#pdns-q').value.trim();
  let kind = $('#pdns-kind').value;
  if (!value) { pdSetError('Type a name, an address or hex rdata to search for.'); return; }
  if (kind === 'auto') kind = pdGuess(value);
  const p = new URLSearchParams();
  const rrtype = $('#pdns-rrtype').value.trim();
  if (rrtype && rrtype.toUpperCase() !== 'ANY') p.set('rrtype', rrtype);
  try {
    for (const [k, sel, label] of PDNS_FENCES) {
      const t = $(sel).value.trim();
      if (t === '') continue;
      pdFence(t, label); // refused here, next to the form, before any request
      p.set(k, t);
    }
  } catch (e) { pdSetError(e.message); return; }
  if (Number($('#pdns-limit').value) !== PDNS_PAGE) p.set('limit', $('#pdns-limit').value);
  const href = pdHref(kind, value) + (p.toString() ? '/' + encodeURIComponent(p.toString()) : '');
  pdSetError('');
  pd.search = null;
  if (location.hash === href) { pd.route = ''; refresh(); } else location.hash = href;
}

function pdGo(delta) {
  if (!pd.search) return;
  if (delta > 0) {
    if (!pd.next) return;
    pd.cursors[++pd.page] = pd.next;
  } else {
    if (pd.page === 0) return;
    pd.page--;
  }
  pdRunSearch(pd.search, ++pd.gen).catch((e) => { if (e !== PDNS_STALE && e.message !== 'unauthorized') pdSetError(e.message); });
}

// Sign-out: nothing of what the last token saw stays in the page.
function pdReset() {
  pd.route = '';
  pd.gen++;
  pd.search = null;
  pd.summary = null;
  $('#pdns-results').hidden = true;
  fill('#pdns-table', []);
  $('#pdns-form').reset();
  $('#pdns-clearance').textContent = '–';
  pdSetError('');
}

loaders.pdns = loadPdns;
document.addEventListener('DOMContentLoaded', () => {
  $('#pdns-form').addEventListener('submit', (e) => { e.preventDefault(); pdSubmit(); });
  $('#pdns-prev').addEventListener('click', () => pdGo(-1));
  $('#pdns-next').addEventListener('click', () => pdGo(1));
});
