#!/usr/bin/env python3
"""The passive-SSL data of the web test (web_pssl.sh), made with the openssl
command: certificates, and ja3-jl lines (the Go sensor's members plus ja4 and
sni) as a sensor sends them, and expect.json with what the test knows of them
independently of the hub (SHA-1s computed here from the DER).

   web_pssl_data.py DIR FIXTURE_JSONL

DIR/green.jsonl  (sent with tlp:green):
  leaf.test (RSA, exponent 3, chain leaf + CA) on 192.0.2.20:443 (SNI leaf.test, client A)
    and 192.0.2.21:8443 (no SNI, client B);
  old.test (expired) on 192.0.2.30:443 and 192.0.2.40:443 (an SNI of 304 bytes), future.test (not yet valid) on 192.0.2.31:443;
  the hostile certificate (markup in its subject and SANs) on 198.51.100.1..60:443
    (SNI hostile.test, client A): 60 handshake tuples for paging.
DIR/red.jsonl (sent with tlp:red): red.test on 203.0.113.9:443 (client C).
The capture's certificates (FIXTURE_JSONL: what d4-sensor --extract tls
sends for tests/data/tls/openssl-lo.pcap) are listed in expect.json too."""
import base64, hashlib, json, os, subprocess, sys

out, fixture = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)


def run(*args):
    subprocess.run(args, cwd=out, check=True, capture_output=True)


def der_of(pem):
    return subprocess.run(['openssl', 'x509', '-in', pem, '-outform', 'DER'], cwd=out, check=True,
                          capture_output=True).stdout


with open(os.path.join(out, 'ca.cnf'), 'w') as f:
    f.write('[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n'
            'default_md = sha256\npolicy = p\ncopy_extensions = copy\nunique_subject = no\n'
            'default_days = 30\n[p]\ncommonName = supplied\n')
open(os.path.join(out, 'index.txt'), 'w').close()
with open(os.path.join(out, 'serial'), 'w') as f:
    f.write('1000\n')

run('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
    '-out', 'ca.pem', '-subj', '/O=d4hub tests/CN=Web Test CA', '-days', '30')


def signed(name, key_args, sans, dates=()):
    run('openssl', 'req', '-new', *key_args, '-nodes', '-keyout', name + '.key', '-out', name + '.csr', '-subj',
        '/CN=' + name, '-addext', 'subjectAltName=' + sans)
    run('openssl', 'ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', name + '.csr',
        '-out', name + '.pem', '-notext', *dates)


# RSA with exponent 3: a weak-key finding (the exponent policy) for its key
run('openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-pkeyopt', 'rsa_keygen_pubexp:3',
    '-out', 'leaf.test.key')
run('openssl', 'req', '-new', '-key', 'leaf.test.key', '-out', 'leaf.test.csr', '-subj', '/CN=leaf.test', '-addext',
    'subjectAltName=DNS:leaf.test,DNS:www.leaf.test,IP:192.0.2.20')
run('openssl', 'ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', 'leaf.test.csr',
    '-out', 'leaf.test.pem', '-notext')
ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
signed('old.test', ec, 'DNS:old.test', ('-startdate', '20200101000000Z', '-enddate', '20210101000000Z'))
signed('future.test', ec, 'DNS:future.test', ('-startdate', '20400101000000Z', '-enddate', '20410101000000Z'))
# hostile text: markup that would run if the page ever rendered it as HTML
HOSTILE_CN = '<img src=x onerror=window.__pwned=1>'
HOSTILE_O = '"><svg onload=window.__pwned=2>'
run('openssl', 'req', '-x509', *ec, '-nodes', '-keyout', 'hostile.key', '-out', 'hostile.pem', '-days', '30', '-subj',
    '/O=' + HOSTILE_O + '/CN=' + HOSTILE_CN, '-addext',
    'subjectAltName=DNS:hostile.test,DNS:<b>bold</b>.hostile.test,DNS:*.wild.hostile.test')
run('openssl', 'req', '-x509', *ec, '-nodes', '-keyout', 'red.key', '-out', 'red.pem', '-days', '30', '-subj',
    '/CN=red.test', '-addext', 'subjectAltName=DNS:red.test')

certs = {n: der_of(n + '.pem') for n in ('ca', 'leaf.test', 'old.test', 'future.test', 'hostile', 'red')}
sha1 = {n: hashlib.sha1(d).hexdigest() for n, d in certs.items()}


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


JA3 = {'A': '771,49195-49199-52393,0-10-11-13-16-23,29-23-24,0', 'B': '771,4865-4866-4867-49195,0-10-11-13-43-51,29-23,0',
       'C': '769,47-53-5-10,0-10-11,23-24-25,0'}
JA3S = '771,49199,65281-0-11-16-23'
JA4 = {'A': 't12d0306h2_3b5074b1b5d0_c5c5ebd3c4ab', 'B': 't13d0406h2_0a8b6d4e2f11_7d1e4c2a9b30',
       'C': 't10d0403nn_1a2b3c4d5e6f_0f1e2d3c4b5a'}


# an SNI longer than the store keeps (255 bytes): shown cut
LONG_SNI = '.'.join(['l%02d' % i + 'x' * 56 for i in range(5)]) + '.test'


def line(ip, port, client, chain, sni=None, when='2026-12-07T10:00:00Z'):
    d = {'ServerIP': ip, 'ServerPort': str(port), 'ClientIP': '10.9.8.7', 'ClientPort': '50000', 'TLSH': '',
         'Timestamp': when, 'JA3': JA3[client], 'JA3Digest': md5(JA3[client]), 'JA3S': JA3S, 'JA3SDigest': md5(JA3S),
         'Certificates': [{'CertHash': hashlib.sha256(certs[c]).hexdigest(), 'Raw': base64.b64encode(certs[c]).decode()}
                          for c in chain],
         'ja4': JA4[client]}
    if sni:
        d['sni'] = sni
    return json.dumps(d) + '\n'


with open(os.path.join(out, 'green.jsonl'), 'w') as f:
    f.write(line('192.0.2.20', 443, 'A', ['leaf.test', 'ca'], 'leaf.test'))
    f.write(line('192.0.2.21', 8443, 'B', ['leaf.test', 'ca']))
    f.write(line('192.0.2.30', 443, 'A', ['old.test']))
    f.write(line('192.0.2.40', 443, 'A', ['old.test'], LONG_SNI))
    f.write(line('192.0.2.31', 443, 'A', ['future.test']))
    for i in range(1, 61):
        f.write(line('198.51.100.%d' % i, 443, 'A', ['hostile'], 'hostile.test'))
with open(os.path.join(out, 'red.jsonl'), 'w') as f:
    f.write(line('203.0.113.9', 443, 'C', ['red'], 'red.test'))

capture = []
for l in open(fixture):
    for c in json.loads(l)['Certificates']:
        h = hashlib.sha1(base64.b64decode(c['Raw'])).hexdigest()
        if h not in capture:
            capture.append(h)
pem = {n: open(os.path.join(out, n + '.pem')).read() for n in certs}
spki = {}
serial = {}
for n in certs:
    pub = subprocess.run('openssl x509 -in %s.pem -pubkey -noout | openssl pkey -pubin -outform DER' % n, shell=True,
                         cwd=out, check=True, capture_output=True).stdout
    spki[n] = hashlib.sha256(pub).hexdigest()
    serial[n] = subprocess.run(['openssl', 'x509', '-in', n + '.pem', '-noout', '-serial'], cwd=out, check=True,
                               capture_output=True, text=True).stdout.strip().split('=')[1].lower()
json.dump({'sha1': sha1, 'sha256': {n: hashlib.sha256(d).hexdigest() for n, d in certs.items()},
           'pem': pem, 'spki': spki, 'serial': serial, 'ja3': {k: md5(v) for k, v in JA3.items()}, 'ja3_string': JA3, 'ja3s': md5(JA3S), 'ja4': JA4,
           'long_sni': LONG_SNI, 'hostile_cn': HOSTILE_CN, 'hostile_o': HOSTILE_O, 'capture_certs': capture},
          open(os.path.join(out, 'expect.json'), 'w'), indent=1)
