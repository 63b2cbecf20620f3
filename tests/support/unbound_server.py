"""unbound_server.py - a private unbound DNS server for tests: serves a local
test zone on a loopback address and forwards nothing, so no query ever
leaves the machine.

    with UnboundServer(records=[
            "d1.example. MX 10 mx1.d1.example.",
            "mx1.d1.example. A 127.0.0.2"],
            zones={"d1.example.": "static", "broken.example.": "refuse"}) as dns:
        ... mtatls-send --resolver 127.0.0.1@%d ... % dns.port

records  zone-file lines (owner TTL-less: "name TYPE data"); served by
         unbound's local-data.
zones    name -> local-zone type: "static" answers NXDOMAIN/NODATA for
         names without records, "refuse" answers REFUSED (a server that
         fails: the client must treat it as a temporary failure).  Each
         record's zone must be listed (a record outside every zone would be
         answered by recursion, which has nowhere to go).
address, port  where to listen (UDP and TCP).  port=0: a free port.
         port=53 (for a resolv.conf, which cannot name a port): address=None
         picks a free 127.0.53.x.

Zone names: not under "test." - unbound (and libunbound, on the client
side) answers NXDOMAIN for that special-use name unless configured with
`local-zone: "test." nodefault`, which libunbound cannot be told through
its API.  Use names under "example." instead.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

UNBOUND = "/usr/sbin/unbound"


def available():
    return os.path.exists(UNBOUND)


def _port_free(address, port):
    """True when both UDP and TCP `port` are free at `address`."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True


def free_port(address):
    """A port free for both UDP and TCP at `address`."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((address, 0))
            port = s.getsockname()[1]
        if _port_free(address, port):
            return port
    raise RuntimeError("no free port at %s" % address)


def free_address_for_port(port, prefix="127.0.53."):
    for last in range(1, 255):
        address = prefix + str(last)
        if _port_free(address, port):
            return address
    raise RuntimeError("no address under %s has port %d free" % (prefix, port))


class UnboundServer:
    def __init__(self, records=(), zones=None, address="127.0.0.1", port=0, start_timeout=20.0):
        self.records = list(records)
        self.zones = dict(zones or {})
        self.port = int(port)
        if address is None:
            address = free_address_for_port(self.port) if self.port else "127.0.0.1"
        self.address = address
        self.start_timeout = start_timeout
        self.dir = None
        self.proc = None

    @property
    def resolver(self):
        """The --resolver / `resolver` value that reaches this server."""
        return "%s@%d" % (self.address, self.port)

    def config(self):
        lines = [
            "server:",
            "  interface: %s" % self.address,
            "  port: %d" % self.port,
            "  do-daemonize: no",
            '  username: ""',
            '  chroot: ""',
            "  directory: \"%s\"" % self.dir,
            "  pidfile: \"%s\"" % os.path.join(self.dir, "unbound.pid"),
            "  use-syslog: no",
            "  logfile: \"%s\"" % os.path.join(self.dir, "unbound.log"),
            "  log-queries: yes",
            "  verbosity: 1",
            "  num-threads: 1",
            "  do-ip6: no",
            "  so-reuseport: no",
            "  access-control: 127.0.0.0/8 allow",
            # No recursion anywhere: what is not in a local zone fails.
            '  module-config: "iterator"',
            "  do-not-query-localhost: yes",
            '  root-hints: ""',
            "  cache-max-ttl: 0",
            "  cache-max-negative-ttl: 0",
        ]
        for zone, kind in self.zones.items():
            lines.append('  local-zone: "%s" %s' % (zone, kind))
        for record in self.records:
            lines.append('  local-data: "%s"' % record.replace('"', '\\"'))
        lines += ["remote-control:", "  control-enable: no", ""]
        return "\n".join(lines)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        if self.port == 0:
            self.port = free_port(self.address)
        self.dir = tempfile.mkdtemp(prefix="mtatls-unbound-")
        conf = os.path.join(self.dir, "unbound.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(self.config())
        check = subprocess.run(["/usr/sbin/unbound-checkconf", conf], capture_output=True, text=True)
        if check.returncode != 0:
            self.stop()
            raise RuntimeError("unbound-checkconf: %s%s" % (check.stdout, check.stderr))
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        log = os.path.join(self.dir, "unbound.log")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = self.log()
                self.stop()
                raise RuntimeError("unbound exited during start-up:\n" + text)
            if os.path.exists(log) and "start of service" in self.log():
                return
            time.sleep(0.02)
        text = self.log()
        self.stop()
        raise RuntimeError("unbound did not start within %.0f s:\n%s" % (self.start_timeout, text))

    def log(self):
        try:
            with open(os.path.join(self.dir, "unbound.log"), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.dir is not None and os.environ.get("MTATLS_KEEP_UNBOUND") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def resolv_conf(self, path):
        """Writes a resolv.conf naming this server (needs port 53)."""
        if self.port != 53:
            raise ValueError("a resolv.conf cannot name port %d" % self.port)
        with open(path, "w", encoding="utf-8") as f:
            f.write("nameserver %s\noptions attempts:1 timeout:2\n" % self.address)
        return path
