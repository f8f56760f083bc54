"""TLS for the RESP and memcached listeners: one ssl.SSLContext per worker,
built from tls-cert-file / tls-key-file / tls-ca-cert-file / tls-auth-clients.
The listeners keep the same context object for their whole life; a CONFIG SET
of a file loads the new certificate into it (OpenSSL uses a context's current
certificate for each new handshake), so new connections get the new
certificate and open ones keep theirs. Settings that cannot be loaded are
refused by CONFIG SET before any worker sees them."""
import ssl

_ctx = None


def build(settings, ctx=None):
    """A server context for the settings, or the given one reloaded in place."""
    if ctx is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(settings['tls-cert-file'], settings['tls-key-file'])
    mode = settings.get('tls-auth-clients') or 'yes'
    if settings.get('tls-ca-cert-file'):
        ctx.load_verify_locations(settings['tls-ca-cert-file'])
    ctx.verify_mode = {'yes': ssl.CERT_REQUIRED, 'optional': ssl.CERT_OPTIONAL,
                       'no': ssl.CERT_NONE}[mode]
    return ctx


def context(cfg):
    """This worker's context (made on first use from the worker's config)."""
    global _ctx
    if _ctx is None:
        _ctx = build(cfg)
    return _ctx


def validate(settings):
    """Raise ValueError when the settings cannot make a context."""
    if not settings.get('tls-cert-file') or not settings.get('tls-key-file'):
        return
    try:
        build(settings)
    except (OSError, ssl.SSLError) as e:
        raise ValueError(str(e)) from None


def reload(settings):
    """Applier of security settings: new certificates for new connections."""
    if _ctx is not None and settings.get('tls-cert-file') and settings.get('tls-key-file'):
        build(settings, _ctx)
