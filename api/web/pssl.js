// d4hub web page: the passive-SSL views (a certificate search and a
// certificate's detail), loaded after app.js and using its helpers. Routes
// live in the URL fragment, so a pivot is a plain link and the browser's back
// button walks the pivots:
//   #certificates                         recent certificates, "nothing yet"
//   #certificates/q/KIND/VALUE            a search (KIND below, VALUE encoded)
//   #certificates/cert/SHA1               a certificate's detail
// Certificates are hostile input (a subject can hold any text): every value
// goes into the page through textContent or an attribute set by the DOM,
// never through innerHTML. Clearance is the API's business: the page shows
// what the API returns for the operator's token.
'use strict';

const PS_KINDS = {
  sha1: 'certificate SHA-1', sha256: 'certificate SHA-256', ip: 'IP or CIDR', name: 'DNS name', ja3: 'JA3', ja3s: 'JA3S',
  ja4: 'JA4', sni: 'SNI', spki: 'SPKI SHA-256', issuer: 'issuer',
};
const PS_PAGE = 50;	     // rows per page of a search
const PS_DETAIL_TUPLES = 50;  // handshakes per page of a certificate's "served by"
const HEX = (n) => new RegExp('^[0-9a-f]{' + n + '}$');
const JA4_RE = /^[tqd][0-9s]{2}[di][0-9]{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$/;

const ps = { route: '', gen: 0, cursors: [null], page: 0, next: null, search: null, cert: null, tupleCursor: null, tuples: [] };
// Answers arrive out of order (a refresh, a click, the back button): every
// rendering belongs to a generation, and one that is no longer the latest
// stops at its next answer instead of drawing over the newer one.
const PS_STALE = new Error('superseded');
function psFresh(gen) { if (gen !== ps.gen) throw PS_STALE; }

// What a value typed in the search box is, when the operator leaves the kind
// to the page. 32 hex digits are a JA3 (a JA3S has to be chosen), 64 a
// certificate SHA-256 (an SPKI has to be chosen).
function psGuess(v) {
  const h = v.toLowerCase();
  if (HEX(40).test(h)) return 'sha1';
  if (HEX(64).test(h)) return 'sha256';
  if (HEX(32).test(h)) return 'ja3';
  if (JA4_RE.test(h)) return 'ja4';
  const v4 = '[0-9]{1,3}(\\.[0-9]{1,3}){3}', v6 = '[0-9a-fA-F]*:[0-9a-fA-F:.]*';
  if (new RegExp('^(' + v4 + '|' + v6 + ')(/[0-9]{1,3}|-(' + v4 + '|' + v6 + '))?$').test(v)) return 'ip';
  if (/^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(v)) return 'name';
  return null;
}

// GET of a list, one page: {"items": [...], "next_cursor": ...}, with the
// caller's clearance from the D4-Clearance header.
async function psList(path) {
  const r = await fetch(path, { headers: { 'Authorization': 'Bearer ' + state.token, 'Accept': 'application/json' } });
  if (r.status === 401) {
    signOut('Your token was refused (expired or revoked?). Sign in again.');
    throw new Error('unauthorized');
  }
  const text = await r.text();
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = JSON.parse(text).detail || detail; } catch (e) { /* not a problem document */ }
    const err = new Error(detail);
    err.status = r.status;
    throw err;
  }
  const data = text ? JSON.parse(text) : {};
  return { items: data.items || [], next: data.next_cursor || r.headers.get('D4-Next-Cursor') || null,
    clearance: r.headers.get('D4-Clearance') };
}

function psEsc(v) { return encodeURIComponent(v); }
function psHref(kind, value) { return '#certificates/q/' + kind + '/' + psEsc(value); }
function psCertHref(sha1) { return '#certificates/cert/' + sha1; }

// A link to a pivot (search by kind/value) or to a certificate.
function psLink(text, href, cls) {
  const a = document.createElement('a');
  a.href = href;
  a.textContent = text;
  if (cls) a.className = cls;
  return a;
}
const PS_HASHES = new Set(['sha256', 'spki', 'ja3', 'ja3s', 'ja4']);
const psPivot = (kind, value, text) => psLink(text === undefined ? value : text, psHref(kind, value),
  'ps-pivot ps-' + kind + (PS_HASHES.has(kind) ? ' hash' : ''));
const psCertLink = (sha1, text) => psLink(text || sha1, psCertHref(sha1), 'ps-cert-link hash');
function psCode(text) { const c = document.createElement('code'); c.textContent = text; return c; }

// Seconds since the epoch or an RFC 3339 text, as the page prints times.
function psTime(t) {
  if (typeof t === 'number') return fmtTime(new Date(t * 1000).toISOString().replace('.000', ''));
  return typeof t === 'string' && t ? fmtTime(t) : '–';
}
function psMs(t) { return typeof t === 'number' ? t * 1000 : typeof t === 'string' ? Date.parse(t) : NaN; }

// The subject's (or issuer's) commonName for a table, the whole name as a
// title: the certificate's cn when the API gives it (unescaped by the
// parser), else read from the RFC 4514 name.
function psCN(name) {
  if (typeof name !== 'string' || !name) return '–';
  const m = /(?:^|,)\s*CN=((?:[^,\\]|\\.)*)/.exec(name);
  return m ? m[1].replace(/\\(.)/g, '$1') : name;
}
function psNameCell(name, cn) {
  const sp = document.createElement('span');
  sp.textContent = typeof cn === 'string' && cn ? cn : psCN(name);
  if (typeof name === 'string') sp.title = name;
  return sp;
}
const PS_KEY_TYPES = { rsa: 'RSA', ec: 'EC', ed25519: 'Ed25519', dsa: 'DSA', other: 'other' };
function psKeyText(c) {
  const t = PS_KEY_TYPES[c.key_type] || c.key_type || c.key_alg || '';
  if (!t) return '–';
  return t + (c.key_bits ? ' ' + c.key_bits + ' bits' : '') + (c.curve ? ' ' + c.curve : '');
}
// An RSA exponent (hex from the API) in decimal, as certificates are read.
function psExponent(hex) {
  if (typeof hex !== 'string' || !/^[0-9a-f]+$/i.test(hex)) return '–';
  const n = BigInt('0x' + hex);
  return n.toString() + (hex.length > 8 ? ' (' + (hex.length * 4) + ' bits)' : '');
}
function psValidity(c) {
  const now = Date.now(), nb = psMs(c.not_before), na = psMs(c.not_after);
  if (na < now) return 'expired';
  if (nb > now) return 'not yet valid';
  return Number.isFinite(na) ? 'valid' : '';
}
function psNotAfterCell(c) {
  const sp = document.createElement('span');
  const v = psValidity(c);
  sp.textContent = psTime(c.not_after) + (v === 'expired' || v === 'not yet valid' ? ' (' + v + ')' : '');
  if (v) sp.className = 'validity-' + v.replace(/ /g, '-');
  return sp;
}
function psCertRow(c) {
  const link = psCertLink(c.sha1);
  link.classList.add('two-lines');
  return row([link, psNameCell(c.subject, c.cn), psNameCell(c.issuer), psNotAfterCell(c), psKeyText(c),
    psTime(c.first_seen), psTime(c.last_seen), c.tlp]);
}
// A handshake's SNI: a pivot, said to be cut when the store kept only its start.
function psSniCell(t) {
  if (!t.sni) return '–';
  if (!t.sni_cut) return psPivot('sni', t.sni);
  const sp = document.createElement('span');
  sp.append(psPivot('sni', t.sni), ' (cut at 255 bytes)');
  return sp;
}
function psTupleRow(t) {
  return row([psPivot('ip', t.server_ip), t.server_port, psSniCell(t), t.cert ? psCertLink(t.cert) : '–',
    t.ja3 ? psPivot('ja3', t.ja3) : '–', t.ja3s ? psPivot('ja3s', t.ja3s) : '–', t.ja4 ? psPivot('ja4', t.ja4) : '–',
    psTime(t.first_seen), psTime(t.last_seen), fmtNum(t.count), t.tlp]);
}

// ---- the API's shapes -------------------------------------------------------
// Every passive-SSL call of the page is here.

const PS_API = '/api/v1/pssl';
// A search: which list it reads and whether its rows are certificates or handshakes.
function psSearchPath(kind, value) {
  switch (kind) {
  case 'sha256': return { certs: true, path: PS_API + '/certs?sha256=' + psEsc(value.toLowerCase()) };
  case 'spki': return { certs: true, path: PS_API + '/certs?spki=' + psEsc(value.toLowerCase()) };
  case 'name': return { certs: true, path: PS_API + '/certs?name=' + psEsc(value) };
  case 'issuer': return { certs: true, path: PS_API + '/certs?issuer=' + psEsc(value) };
  case 'ip': return { certs: false, path: PS_API + '/tuples?ip=' + psEsc(value) };
  case 'ja3': return { certs: false, path: PS_API + '/tuples?ja3=' + psEsc(value.toLowerCase()) };
  case 'ja3s': return { certs: false, path: PS_API + '/tuples?ja3s=' + psEsc(value.toLowerCase()) };
  case 'ja4': return { certs: false, path: PS_API + '/tuples?ja4=' + psEsc(value) };
  case 'sni': return { certs: false, path: PS_API + '/tuples?sni=' + psEsc(value) };
  default: return null;
  }
}
const psCertPath = (sha1) => PS_API + '/certs/' + sha1;
const psCertTuplesPath = (sha1) => PS_API + '/tuples?cert=' + sha1;
const psWeakPath = (sha1) => PS_API + '/weak/certs/' + sha1;
const psRecentPath = (n) => PS_API + '/certs?limit=' + n;
function psPage(path, limit, cursor) {
  return path + (path.includes('?') ? '&' : '?') + 'limit=' + limit + (cursor ? '&cursor=' + psEsc(cursor) : '');
}

// ---- the view ---------------------------------------------------------------

function psSetError(text) { $('#ps-search-error').textContent = text || ''; }

async function psRunSearch(kind, value, gen) {
  const s = psSearchPath(kind, value);
  const key = kind + '\n' + value;
  if (!ps.search || ps.search.key !== key) {
    ps.search = { key, kind, value };
    ps.cursors = [null];
    ps.page = 0;
  }
  const page = await psList(psPage(s.path, PS_PAGE, ps.cursors[ps.page]));
  psFresh(gen);
  ps.next = page.next;
  // a JA3 or JA3S: the full string behind the MD5, when the hub has it
  $('#ps-fp-string').textContent = '';
  if ((kind === 'ja3' || kind === 'ja3s') && HEX(32).test(value.toLowerCase())) {
    try {
      const fp = await api('GET', PS_API + '/fingerprints/' + kind + '/' + value.toLowerCase());
      psFresh(gen);
      if (fp.string) $('#ps-fp-string').textContent = kind.toUpperCase() + ' string: ' + fp.string;
    } catch (e) { if (e === PS_STALE || e.message === 'unauthorized') throw e; }
  }
  $('#ps-cert').hidden = true;
  $('#ps-results').hidden = false;
  $('#ps-results-title').textContent = 'Search by ' + PS_KINDS[kind] + ': ' + value;
  $('#ps-certs').hidden = !s.certs || page.items.length === 0;
  $('#ps-tuples').hidden = s.certs || page.items.length === 0;
  fill(s.certs ? '#ps-certs' : '#ps-tuples', page.items.map(s.certs ? psCertRow : psTupleRow));
  fill(s.certs ? '#ps-tuples' : '#ps-certs', []);
  $('#ps-none').hidden = page.items.length > 0;
  $('#ps-prev').disabled = ps.page === 0;
  $('#ps-next').disabled = !ps.next;
  $('#ps-page').textContent = 'page ' + (ps.page + 1);
}

function psField(dl, label, value, id) {
  const dt = document.createElement('dt');
  dt.textContent = label;
  const dd = document.createElement('dd');
  if (value instanceof Node) dd.appendChild(value);
  else dd.textContent = value === null || value === undefined || value === '' ? '–' : String(value);
  if (id) dd.id = id;
  dl.append(dt, dd);
}

async function psShowCert(sha1, gen) {
  const c = await api('GET', psCertPath(sha1));
  psFresh(gen);
  $('#ps-results').hidden = true;
  ps.cert = c;
  $('#ps-c-sha1').textContent = c.sha1;
  $('#ps-c-unparsed').hidden = c.parsed !== false;
  const dl = $('#ps-c-fields');
  dl.replaceChildren();
  psField(dl, 'Subject', c.subject, 'ps-c-subject');
  psField(dl, 'Issuer', c.issuer ? psPivot('issuer', c.issuer) : '–', 'ps-c-issuer');
  const v = psValidity(c);
  const val = document.createElement('span');
  val.textContent = psTime(c.not_before) + ' to ' + psTime(c.not_after) + (v ? ' (' + v + ')' : '');
  if (v) val.className = 'validity-' + v.replace(/ /g, '-');
  psField(dl, 'Validity', val, 'ps-c-validity');
  psField(dl, 'Serial', c.serial ? psCode(c.serial) : '–', 'ps-c-serial');
  psField(dl, 'Signature', c.sig_alg, 'ps-c-sigalg');
  psField(dl, 'Key', psKeyText(c), 'ps-c-key');
  psField(dl, 'Key algorithm', c.key_alg, 'ps-c-keyalg');
  if (c.key_type === 'rsa') psField(dl, 'RSA exponent', psExponent(c.exponent), 'ps-c-exponent');
  if (c.curve) psField(dl, 'Curve', c.curve, 'ps-c-curve');
  if (c.key_id) psField(dl, 'Certificates with this key', psLink('search by its SPKI', psHref('spki', c.spki_sha256), 'ps-pivot'), 'ps-c-samekey');
  psField(dl, 'CA', c.is_ca === true ? 'yes' : c.is_ca === false ? 'no' : '–', 'ps-c-ca');
  psField(dl, 'SHA-1', psCode(c.sha1), 'ps-c-f-sha1');
  psField(dl, 'SHA-256', c.sha256 ? psPivot('sha256', c.sha256) : '–', 'ps-c-sha256');
  psField(dl, 'SPKI SHA-256', c.spki_sha256 ? psPivot('spki', c.spki_sha256) : '–', 'ps-c-spki');
  psField(dl, 'First seen', psTime(c.first_seen), 'ps-c-first');
  psField(dl, 'Last seen', psTime(c.last_seen), 'ps-c-last');
  psField(dl, 'Handshakes', fmtNum(c.count), 'ps-c-count');
  psField(dl, 'TLP', c.tlp, 'ps-c-tlp');
  $('#ps-c-sans').replaceChildren(...(c.san || []).map((s) => {
    const li = document.createElement('li');
    li.appendChild(s.type === 'ip' ? psPivot('ip', s.value) : psPivot('name', s.value));
    return li;
  }));
  if (!(c.san || []).length) {
    const li = document.createElement('li');
    li.className = 'hint';
    li.textContent = 'none';
    $('#ps-c-sans').appendChild(li);
  }
  const chain = c.chain || [];
  fill('#ps-c-chain', chain.map((e, i) => row([String(i), e.sha1 === c.sha1 ? psCode(e.sha1) : psCertLink(e.sha1),
    psNameCell(e.subject), psNameCell(e.issuer)])));
  emptyTable('#ps-c-chain', '#ps-c-chain-empty', chain.length);
  // shown now, with nothing left of the certificate shown before
  for (const t of ['#ps-c-servers', '#ps-c-fps', '#ps-c-weak']) fill(t, []);
  for (const h of ['#ps-c-servers-empty', '#ps-c-fps-empty', '#ps-c-fps-partial', '#ps-c-weak-empty', '#ps-c-weak-more', '#ps-c-more'])
    $(h).hidden = true;
  $('#ps-cert').hidden = false;
  ps.tupleCursor = null;
  await psCertTuples(sha1, false, gen);
  await psCertWeak(sha1, gen);
}

// The handshakes that carried the certificate (as the server's own or in its
// chain): servers (address, port, SNI) and the JA3/JA3S/JA4 seen in the
// handshakes read so far ("More handshakes" reads the next page).
async function psCertTuples(sha1, more, gen) {
  const page = await psList(psPage(psCertTuplesPath(sha1), PS_DETAIL_TUPLES, more ? ps.tupleCursor : null));
  psFresh(gen);
  ps.tupleCursor = page.next;
  const tuples = more ? ps.tuples.concat(page.items) : page.items;
  ps.tuples = tuples;
  fill('#ps-c-servers', tuples.map((t) => row([psPivot('ip', t.server_ip), t.server_port, psSniCell(t),
    psTime(t.first_seen), psTime(t.last_seen), fmtNum(t.count), t.tlp])));
  emptyTable('#ps-c-servers', '#ps-c-servers-empty', tuples.length);
  $('#ps-c-more').hidden = !ps.tupleCursor;
  const fps = new Map();
  for (const t of tuples)
    for (const [kind, fp] of [['ja3', t.ja3], ['ja3s', t.ja3s], ['ja4', t.ja4]]) {
      if (!fp) continue;
      const k = kind + ' ' + fp;
      const e = fps.get(k) || { kind, fp, count: 0, first: null, last: null };
      e.count += t.count || 0;
      if (e.first === null || psMs(t.first_seen) < psMs(e.first)) e.first = t.first_seen;
      if (e.last === null || psMs(t.last_seen) > psMs(e.last)) e.last = t.last_seen;
      fps.set(k, e);
    }
  const order = { ja3: 0, ja4: 1, ja3s: 2 };
  const list = [...fps.values()].sort((a, b) => order[a.kind] - order[b.kind] || b.count - a.count || (a.fp < b.fp ? -1 : 1));
  fill('#ps-c-fps', list.map((e) => row([e.kind.toUpperCase(), psPivot(e.kind, e.fp), fmtNum(e.count), psTime(e.first), psTime(e.last)])));
  emptyTable('#ps-c-fps', '#ps-c-fps-empty', list.length);
  $('#ps-c-fps-partial').hidden = !ps.tupleCursor;
  $('#ps-c-fps-partial').textContent = 'From the first ' + fmtNum(tuples.length) + ' handshakes: "More handshakes" reads more.';
}

// What a weak-key finding says, in words (docs/passivessl.md "Weak keys").
function psWeakDetail(f) {
  switch (f.kind) {
  case 'shared-prime': return 'shares a prime' + (f.factor_bits ? ' of ' + f.factor_bits + ' bits' : '') + ' with another modulus: both are factored';
  case 'shared-prime-unpaired': return 'shares a prime with a modulus no longer in the set' + (f.factor_bits ? ' (' + f.factor_bits + ' bits)' : '');
  case 'duplicate-modulus': return 'the same RSA modulus under another SubjectPublicKeyInfo';
  case 'small-factor': return 'small prime factors' + (f.factor_bits ? ' (their product: ' + f.factor_bits + ' bits)' : '');
  case 'invalid-modulus': return 'not an RSA modulus' + (f.reason ? ': ' + f.reason : '');
  case 'weak-exponent': return 'public exponent ' + (f.key && f.key.exponent ? psExponent(f.key.exponent) : '?') +
    (f.exponent_flags && f.exponent_flags.length ? ' (' + f.exponent_flags.join(', ') + ')' : '');
  case 'shared-key': return 'one key in certificates of ' + (f.subject_groups || 'several') + ' unrelated subjects';
  default: return f.reason || '–';
  }
}
// The other key of a pair: the certificates carrying it that the caller may see.
function psWeakOther(k) {
  if (!k) return '–';
  if (k.hidden) return 'a key none of whose certificates you may see';
  const sp = document.createElement('span');
  (k.certificates || []).forEach((c, i) => {
    if (i) sp.append(', ');
    sp.appendChild(psCertLink(c.sha1, psCN(c.subject) === '–' ? c.sha1 : psCN(c.subject)));
  });
  if (k.certificates_more) sp.append(' …');
  if (!(k.certificates || []).length) sp.textContent = 'key ' + k.id;
  return sp;
}
async function psCertWeak(sha1, gen) {
  let d;
  try {
    d = await api('GET', psWeakPath(sha1));
  } catch (e) {
    if (e === PS_STALE || e.status !== 404) throw e;
    d = { findings: [] }; // no parsed key (or a hub without the weak-key job)
  }
  psFresh(gen);
  const list = d.findings || [];
  fill('#ps-c-weak', list.map((f) => row([f.kind, psWeakDetail(f), psWeakOther(f.other), psTime(f.found_at)])));
  emptyTable('#ps-c-weak', '#ps-c-weak-empty', list.length);
  $('#ps-c-weak-more').hidden = !d.findings_more;
}

// PEM: the DER from the API in base64, wrapped at 64 columns. Downloaded
// through a Blob (the API needs the bearer token, a plain link would not
// carry it).
function psPem(derB64) {
  const lines = derB64.match(/.{1,64}/g) || [];
  return '-----BEGIN CERTIFICATE-----\n' + lines.join('\n') + '\n-----END CERTIFICATE-----\n';
}
function psDownloadPem() {
  const c = ps.cert;
  if (!c || !(c.pem || c.der)) { setStatus('The API gave no DER for this certificate.', true); return; }
  const url = URL.createObjectURL(new Blob([c.pem || psPem(c.der)], { type: 'application/x-pem-file' }));
  const a = $('#ps-pem-link');
  a.href = url;
  a.download = c.sha1 + '.pem';
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// The store's figures (every TLP level: counts only) and, for an admin, the
// consumer's counters per sensor.
async function psLoadFigures() {
  const info = await api('GET', PS_API + '/info');
  const st = info.store || {};
  $('#ps-n-certs').textContent = fmtNum(st.certs);
  $('#ps-n-tuples').textContent = fmtNum(st.tuples);
  $('#ps-n-keys').textContent = fmtNum(st.keys) + (typeof st.rsa_keys === 'number' ? ' (' + fmtNum(st.rsa_keys) + ')' : '');
  $('#ps-n-findings').textContent = fmtNum(st.findings);
  $('#ps-off').hidden = !info.ingest || info.ingest.running !== false;
  $('#ps-counters-box').hidden = state.role !== 'admin';
  if (state.role !== 'admin') return;
  const c = await api('GET', PS_API + '/counters');
  fill('#ps-counters', (c.sensors || []).map((x) => row([x.sensor, fmtNum(x.frames), fmtNum(x.handshakes), fmtNum(x.certs),
    fmtNum(x.certs_new), fmtNum(x.bad_lines), fmtNum(x.bad_packets), fmtNum(x.bad_certs)])));
  emptyTable('#ps-counters', '#ps-counters-empty', (c.sensors || []).length);
}

async function psLoadRecent() {
  const page = await psList(psRecentPath(20));
  fill('#ps-recent', page.items.map(psCertRow));
  emptyTable('#ps-recent', '#ps-recent-empty', page.items.length);
  $('#ps-empty').hidden = page.items.length > 0;
  if (page.clearance) $('#ps-clearance').textContent = page.clearance;
}

// The view's loader: the recent list on every refresh; a search or a
// detail only when the route changed (a refresh does not reset the page the
// operator walked to, nor the handshakes added with "More").
async function loadCertificates() {
  const route = state.route || [];
  const key = route.join('/');
  // the figures are a side show: their failure does not stop the view
  await Promise.all([psLoadRecent(), psLoadFigures().catch((e) => { if (e.message === 'unauthorized') throw e; })]);
  // a newer route is being loaded (or already shown) by another call
  if (state.view !== 'certificates' || (state.route || []).join('/') !== key || key === ps.route) return;
  ps.route = key;
  const gen = ++ps.gen;
  psSetError('');
  try {
    if (route[0] === 'cert' && HEX(40).test(route[1] || '')) {
      // "guess" reads a SHA-1 as one, and lets the next value typed be of any kind
      $('#ps-kind').value = 'auto';
      $('#ps-q').value = route[1];
      await psShowCert(route[1], gen);
    } else if (route[0] === 'q' && PS_KINDS[route[1]]) {
      const value = decodeURIComponent(route.slice(2).join('/'));
      $('#ps-kind').value = route[1];
      $('#ps-q').value = value;
      if (route[1] === 'sha1') { location.hash = psCertHref(value.toLowerCase()); return; }
      await psRunSearch(route[1], value, gen);
    } else {
      $('#ps-results').hidden = true;
      $('#ps-cert').hidden = true;
    }
  } catch (e) {
    if (e === PS_STALE) return;
    if (e.message === 'unauthorized') throw e;
    $('#ps-results').hidden = true;
    $('#ps-cert').hidden = true;
    psSetError(e.status === 404 ? 'Not found (or not visible with your clearance).' : e.message);
  }
}

function psSubmit() {
  const value = $('#ps-q').value.trim();
  let kind = $('#ps-kind').value;
  if (kind === 'auto') kind = psGuess(value);
  if (!kind) { psSetError('Not a hash, an address, a name or a fingerprint: choose what to search by.'); return; }
  if (kind === 'sha1' && !HEX(40).test(value.toLowerCase())) { psSetError('A SHA-1 is 40 hexadecimal digits.'); return; }
  const href = kind === 'sha1' ? psCertHref(value.toLowerCase()) : psHref(kind, value);
  ps.search = null;
  if (location.hash === href) { ps.route = ''; refresh(); } else location.hash = href;
}

// Sign-out: nothing of what the last token saw stays in the page.
function psReset() {
  ps.route = '';
  ps.gen++;
  ps.search = null;
  ps.cert = null;
  ps.tuples = [];
  $('#ps-results').hidden = true;
  $('#ps-cert').hidden = true;
  for (const t of ['#ps-certs', '#ps-tuples', '#ps-c-chain', '#ps-c-servers', '#ps-c-fps', '#ps-c-weak', '#ps-recent', '#ps-counters'])
    fill(t, []);
  $('#ps-c-fields').replaceChildren();
  $('#ps-c-sans').replaceChildren();
  $('#ps-q').value = '';
  $('#ps-clearance').textContent = '–';
  psSetError('');
}

loaders.certificates = loadCertificates;
document.addEventListener('DOMContentLoaded', () => {
  $('#ps-search').addEventListener('submit', (e) => { e.preventDefault(); psSubmit(); });
  $('#ps-kind').addEventListener('change', () => psSetError(''));
  $('#ps-prev').addEventListener('click', () => {
    if (ps.page === 0) return;
    ps.page--;
    psRunSearch(ps.search.kind, ps.search.value, ++ps.gen).catch((e) => { if (e !== PS_STALE) psSetError(e.message); });
  });
  $('#ps-next').addEventListener('click', () => {
    if (!ps.next) return;
    ps.cursors[++ps.page] = ps.next;
    psRunSearch(ps.search.kind, ps.search.value, ++ps.gen).catch((e) => { if (e !== PS_STALE) psSetError(e.message); });
  });
  $('#ps-c-more').addEventListener('click', () => {
    if (ps.cert) psCertTuples(ps.cert.sha1, true, ps.gen).catch((e) => { if (e !== PS_STALE) setStatus(e.message, true); });
  });
  $('#ps-pem').addEventListener('click', psDownloadPem);
});
