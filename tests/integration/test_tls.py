"""TLS listeners: a node with a plain and a TLS port side by side, certificates
made here (a CA, the server, a client, an expired client) with `cryptography`.
Handshakes with redis-py ssl=True, redis-cli --tls and openssl s_client;
mutual TLS refuses a client without a certificate and one with an expired
certificate; CONFIG SET tls-cert-file serves the new certificate to new
connections; a memcached TLS port serves pymemcache over TLS."""
import datetime
import shutil
import socket
import ssl
import subprocess

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from servers import CachecytServer, free_port

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, issuer, key, signer, *, ca=False, days=(-1, 30), san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now + datetime.timedelta(days=days[0]))
         .not_valid_after(now + datetime.timedelta(days=days[1]))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san),
                            x509.IPAddress(__import__('ipaddress').ip_address('127.0.0.1'))]),
                            critical=False)
    return b.sign(signer, hashes.SHA256())


def _write(path, cert=None, key=None):
    with open(path, 'wb') as f:
        if cert is not None:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return str(path)


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp('pki')
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert('test-ca', 'test-ca', ca_key, ca_key, ca=True)
    files = {'ca': _write(d / 'ca.pem', ca)}
    for name, days in (('server', (-1, 30)), ('server2', (-1, 30)), ('client', (-1, 30)),
                       ('expired', (-30, -1))):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(name, 'test-ca', key, ca_key, days=days,
                     san='localhost' if name.startswith('server') else None)
        files[name] = _write(d / f'{name}.pem', cert)
        files[name + '-key'] = _write(d / f'{name}-key.pem', key=key)
    return files


@pytest.fixture(scope='module')
def node(pki):
    tls_port, mc_tls_port = free_port(), free_port()
    srv = CachecytServer('--tls-port', tls_port, '--memcached-tls-port', mc_tls_port,
                         '--tls-cert-file', pki['server'], '--tls-key-file', pki['server-key'],
                         '--tls-ca-cert-file', pki['ca'], workers=2).start()
    srv.tls_port, srv.mc_tls_port = tls_port, mc_tls_port
    yield srv
    srv.stop()


def tls_client(node, pki, cert='client', **kw):
    args = dict(port=node.tls_port, ssl=True, retry=Retry(NoBackoff(), 0), ssl_ca_certs=pki['ca'], ssl_cert_reqs='required',
                ssl_check_hostname=False)
    if cert:
        args.update(ssl_certfile=pki[cert], ssl_keyfile=pki[cert + '-key'])
    args.update(kw)
    return redis.Redis(**args)


def test_plain_and_tls_side_by_side(node, pki):
    plain = redis.Redis(port=node.port)
    secure = tls_client(node, pki)
    assert secure.set('k', 'v' * 100000)             # big enough to span many TLS records
    assert plain.get('k') == b'v' * 100000
    pipe = secure.pipeline(transaction=False)
    for i in range(200):
        pipe.incr('n')
    assert pipe.execute()[-1] == 200


def test_mtls_refuses_client_without_certificate(node, pki):
    with pytest.raises(redis.ConnectionError):
        tls_client(node, pki, cert=None).ping()


def test_mtls_refuses_expired_certificate(node, pki):
    with pytest.raises(redis.ConnectionError):
        tls_client(node, pki, cert='expired').ping()


def _peer_cn(node, pki):
    ctx = ssl.create_default_context(cafile=pki['ca'])
    ctx.check_hostname = False
    ctx.load_cert_chain(pki['client'], pki['client-key'])
    with socket.create_connection(('127.0.0.1', node.tls_port)) as raw:
        with ctx.wrap_socket(raw) as s:
            s.sendall(b"PING\r\n")
            assert s.recv(64) == b"+PONG\r\n"
            return dict(x[0] for x in s.getpeercert()['subject'])['commonName']


def test_certificate_reload(node, pki):
    plain = redis.Redis(port=node.port)
    assert _peer_cn(node, pki) == 'server'
    with pytest.raises(redis.ResponseError, match="Unable to update TLS configuration"):
        plain.config_set('tls-cert-file', '/nonexistent.pem')
    plain.execute_command('CONFIG', 'SET', 'tls-cert-file', pki['server2'],
                          'tls-key-file', pki['server2-key'])
    try:
        # every worker took the new certificate: several connections, same answer
        assert {_peer_cn(node, pki) for _ in range(6)} == {'server2'}
        assert plain.config_get('tls-cert-file') == {'tls-cert-file': pki['server2']}
    finally:
        plain.execute_command('CONFIG', 'SET', 'tls-cert-file', pki['server'],
                              'tls-key-file', pki['server-key'])


@pytest.mark.skipif(shutil.which('redis-cli') is None, reason="redis-cli is not installed")
def test_redis_cli_tls(node, pki):
    out = subprocess.run(['redis-cli', '-p', str(node.tls_port), '--tls', '--cacert', pki['ca'],
                          '--cert', pki['client'], '--key', pki['client-key'], 'ECHO', 'hello'],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == 'hello', out.stderr


@pytest.mark.skipif(shutil.which('openssl') is None, reason="openssl is not installed")
def test_openssl_s_client(node, pki):
    out = subprocess.run(['openssl', 's_client', '-connect', f'127.0.0.1:{node.tls_port}',
                          '-CAfile', pki['ca'], '-cert', pki['client'], '-key', pki['client-key'],
                          '-quiet', '-verify_return_error'],
                         input=b"PING\r\nQUIT\r\n", capture_output=True, timeout=10)
    assert b"+PONG" in out.stdout, out.stderr


def test_memcached_over_tls(node, pki):
    from pymemcache.client.base import Client
    ctx = ssl.create_default_context(cafile=pki['ca'])
    ctx.check_hostname = False
    ctx.load_cert_chain(pki['client'], pki['client-key'])
    mc = Client(('127.0.0.1', node.mc_tls_port), tls_context=ctx)
    mc.set('mk', b'mv')
    assert mc.get('mk') == b'mv'
    mc.close()


def test_unusable_certificate_stops_the_start(tmp_path, pki):
    import os
    import sys
    from servers import ROOT
    env = dict(os.environ, PYTHONPATH=ROOT)
    port = free_port()
    out = subprocess.run([sys.executable, '-m', 'cachecyt.cli', 'server', '--port', str(port),
                          '--workers', '1', '--memcached-port', '0', '--tls-port', str(free_port()),
                          '--tls-cert-file', pki['server'], '--tls-key-file', pki['client-key'],
                          '--tls-ca-cert-file', pki['ca']],
                         capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode != 0 and "cannot load the TLS certificates" in out.stderr
    assert not os.path.exists(f"/dev/shm/cachecyt.{port}")       # the refused start cleaned up


def test_memcached_tls_port_in_protected_mode(pki):
    from test_security_node import _outside_address, mc_line
    addr = _outside_address()
    if addr is None:
        pytest.skip("this host has no non-loopback address")
    port = free_port()
    ctx = ssl.create_default_context(cafile=pki['ca'])
    ctx.check_hostname = False
    ctx.load_cert_chain(pki['client'], pki['client-key'])
    with CachecytServer('--bind', '0.0.0.0', '--memcached-tls-port', port,
                        '--tls-cert-file', pki['server'], '--tls-key-file', pki['server-key'],
                        '--tls-ca-cert-file', pki['ca'], workers=1):
        line, closed = mc_line(addr, port, wrap=ctx.wrap_socket)
        assert line.startswith(b"SERVER_ERROR protected mode is enabled") and closed
        assert mc_line('127.0.0.1', port, wrap=ctx.wrap_socket)[0].startswith(b"VERSION ")
