"""The HTTP endpoint on `metrics-port`, served by a thread of the supervisor:

  GET /metrics      Prometheus text format, read fresh from the segment
  GET /             the dashboard page (static/dashboard.html)
  GET /static/<f>   its script and chart code, shipped in the package (no CDN)
  GET /api/series   the dashboard's data: the last two minutes, one point a second
  GET /api/alerts   the active alerts as JSON

Standard-library http.server: a scrape is a handful of requests a minute, and
a thread keeps the server out of the supervisor's signal wait."""
import json
import logging
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from cachecyt.metrics import promtext

log = logging.getLogger("cachecyt.metrics")
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
STATIC_TYPES = {'.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
                '.css': 'text/css; charset=utf-8'}


METRICS_PORT_OFFSET = 3000     # metrics-port -1: the RESP port + this (6379 -> 9379)


def metrics_port(cfg) -> int:
    """The port to serve on, 0 for none: metrics-port, or when it is -1 (the
    default) the RESP port + 3000, so nodes on one host do not collide."""
    port = cfg['metrics-port']
    if port != -1:
        return port
    port = cfg['port'] + METRICS_PORT_OFFSET
    if port > 65535:
        raise SystemExit(f"metrics-port would be port + {METRICS_PORT_OFFSET} = {port}, past 65535;"
                         " set metrics-port (0 disables it)")
    return port


def listen_host(bind: str) -> str:
    """The first address of the `bind` option (Redis syntax, '-' = optional)."""
    first = (bind.split() or ['127.0.0.1'])[0]
    return first.lstrip('-')


class _Handler(BaseHTTPRequestHandler):
    server_version = 'cachecyt-metrics'
    observer = None                      # set on the subclass made per server
    timeout = 5                          # s; a client that sends nothing cannot hold a thread

    def log_message(self, fmt, *args):
        log.debug("metrics http: " + fmt, *args)

    def do_GET(self):
        path = urlsplit(self.path).path
        try:
            if path == '/metrics':
                body = promtext.write(self.observer.families()).encode()
                return self._send(200, promtext.CONTENT_TYPE, body)
            if path in ('/', '/dashboard'):
                return self._static('dashboard.html')
            if path.startswith('/static/'):
                return self._static(path[len('/static/'):])
            if path == '/api/series':
                return self._json(self.observer.series())
            if path == '/api/alerts':
                return self._json(self.observer.alerts())
        except Exception:
            log.exception("metrics http: %s failed", path)
            return self._send(500, 'text/plain', b'internal error\n')
        self._send(404, 'text/plain', b'not found\n')

    def _static(self, name):
        ext = os.path.splitext(name)[1]
        if '/' in name or name.startswith('.') or ext not in STATIC_TYPES:
            return self._send(404, 'text/plain', b'not found\n')
        try:
            with open(os.path.join(STATIC, name), 'rb') as f:
                body = f.read()
        except OSError:
            return self._send(404, 'text/plain', b'not found\n')
        self._send(200, STATIC_TYPES[ext], body)

    def _json(self, value):
        self._send(200, 'application/json', json.dumps(value).encode())

    def _send(self, code, ctype, body):
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        self.end_headers()
        self.wfile.write(body)


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """Binds at construction (so a taken port stops the start), serves from start()."""

    def __init__(self, observer, host, port):
        handler = type('Handler', (_Handler,), {'observer': observer})
        server_class = _Server6 if ':' in host else ThreadingHTTPServer
        try:
            self.httpd = server_class((host, port), handler)
        except OSError as e:
            raise SystemExit(f"cannot serve metrics on {host}:{port}: {e.strerror}"
                             " (set metrics-port to a free port, or 0 to disable)")
        # stop() waits for requests in flight: they read the segment, which the
        # supervisor unmaps right after
        self.httpd.daemon_threads = False
        self.httpd.block_on_close = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name='metrics-http', daemon=True)

    def address(self):
        return self.httpd.server_address[:2]

    def start(self):
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
