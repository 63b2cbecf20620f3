"""postfix_instance.py - a throwaway Postfix for end-to-end tests and benchmarks.

Creates a private instance in a temporary directory and runs it with
`postfix -c DIR start`: no systemd, no chroot, no syslog, nothing under
/etc/postfix touched.  Two roles:

* receiver (default): one smtpd on ADDRESS:PORT that accepts mail for every
  domain and keeps each message as a Maildir file in DIR/mail/sink/new/;
  STARTTLS on or off, optionally asking for and verifying client certificates.
* sender (relay_to=(host, port)): Postfix as an SMTP client that relays
  everything injected on ADDRESS:PORT to host:port through transport_maps,
  with smtp_tls_security_level=encrypt by default.

Use it as a context manager; stop() always runs, kills whatever the master
left behind, and removes the directory.  Needs root (Postfix's master must
start as root) and /usr/bin/python3 with the standard library only.

    with PostfixInstance("127.0.0.21", tls=True, pki=PKI) as mx:
        ... deliver to 127.0.0.21:2525 ...
        msgs = mx.wait_for_messages(1)
"""
import atexit
import errno
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

POSTFIX = "/usr/sbin/postfix"

# Every instance still running, so an exception, atexit or a signal can stop it.
_live = set()


def available():
    """True if Postfix is installed (the tests skip otherwise)."""
    return os.access(POSTFIX, os.X_OK)


def stop_all():
    for inst in list(_live):
        try:
            inst.stop()
        except Exception:  # best effort: keep stopping the others
            pass


atexit.register(stop_all)


def stop_all_on_signals(signals=(signal.SIGTERM, signal.SIGHUP, signal.SIGINT)):
    """Turns these signals into SystemExit so `with` blocks and atexit run.

    meson ends a test that times out with SIGTERM; without this the masters
    of the instances would outlive the test."""

    def handler(signum, _frame):
        raise SystemExit(128 + signum)

    for sig in signals:
        signal.signal(sig, handler)


class PostfixError(RuntimeError):
    pass


class _signals_deferred:
    """Holds back SIGTERM/SIGHUP/SIGINT for a block: a SystemExit raised by
    stop_all_on_signals' handler halfway through stop() would leave a
    master running or half a directory behind.  The signal is delivered
    when the block ends."""

    SIGNALS = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}

    def __enter__(self):
        self.old = signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)
        return self

    def __exit__(self, *exc):
        signal.pthread_sigmask(signal.SIG_SETMASK, self.old)
        return False


# master.cf written from scratch rather than edited from Debian's: every
# service unchrooted (column 5 "n"), only what a sink or relay needs.
_MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
{listen} inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixInstance:
    """One private Postfix instance.  See the module docstring.

    address, port  where smtpd listens (IPv4; 127.0.0.2 and up need no setup).
                   Port 0 (the default): a free port, chosen at start(), so
                   that concurrent test runs do not collide.
                   In the sender role this is where mail is injected.
    tls            offer STARTTLS with pki/server.pem (security_level may,
                   loglevel 1, TLS details in Received:).  False: no TLS at
                   all; STARTTLS is neither advertised nor accepted (502).
    starttls       False: TLS configured (certificate loaded) but STARTTLS
                   discarded from EHLO; Postfix then also answers the command
                   with 502, so to a client this is "no STARTTLS at all".
    ask_ccert      ask clients for a certificate and verify it against
                   pki/ca.pem (smtpd_tls_ask_ccert); needs tls.
    pki            directory with ca.pem, server.pem, server.key (the default
                   certificate files); cert_file/key_file/ca_file override.
    relay_to       (host, port): sender role; relay every domain in
                   relay_domains ("*" = all) to smtp:[host]:port.
    relay_tls      smtp_tls_security_level for the sender role.
    relay_ca       smtp_tls_CAfile for the sender role (default pki/ca.pem).
    extra          dict of further main.cf settings (win over the defaults).
    extra_master   text appended to master.cf (e.g. a pipe(8) transport).
    resolv_conf    a resolv.conf file for this instance's DNS lookups: the
                   master (and every daemon it starts) runs in a private
                   mount namespace where this file is bind-mounted over
                   /etc/resolv.conf (unshare -m; needs CAP_SYS_ADMIN).  The
                   system's file is never touched.
    name           myhostname's first label (default from address and port);
                   instances must differ or Postfix sees a mail loop.
    """

    def __init__(self, address="127.0.0.21", port=0, *, tls=True, starttls=True,
                 ask_ccert=False, pki=None, cert_file=None, key_file=None, ca_file=None,
                 relay_to=None, relay_domains=("*",), relay_tls="encrypt", relay_ca=None,
                 extra=None, name=None, keep=None, start_timeout=30.0, resolv_conf=None,
                 extra_master=""):
        self.address = address
        self.port = int(port)
        self.tls = tls
        self.starttls = starttls
        self.ask_ccert = ask_ccert
        self.pki = pki or os.environ.get("MTATLS_TEST_PKI")
        self.cert_file = cert_file or (self.pki and os.path.join(self.pki, "server.pem"))
        self.key_file = key_file or (self.pki and os.path.join(self.pki, "server.key"))
        self.ca_file = ca_file or (self.pki and os.path.join(self.pki, "ca.pem"))
        self.relay_to = relay_to
        self.relay_domains = tuple(relay_domains)
        self.relay_tls = relay_tls
        self.relay_ca = relay_ca or self.ca_file
        self.extra = dict(extra or {})
        self.resolv_conf = resolv_conf
        self.extra_master = extra_master
        self.name = name
        # MTATLS_KEEP_POSTFIX=1 keeps the directory for a post-mortem.
        self.keep = keep if keep is not None else os.environ.get("MTATLS_KEEP_POSTFIX") == "1"
        self.start_timeout = start_timeout
        self.dir = None
        self.master_pid = None
        self.start_seconds = None
        self.stop_seconds = None

    @property
    def myhostname(self):
        # Instances must differ or Postfix sees a mail loop.
        return "%s.example.test" % (
            self.name or "pf-%s-%d" % (self.address.replace(".", "-"), self.port))

    # -- paths -------------------------------------------------------------

    @property
    def config_dir(self):
        return os.path.join(self.dir, "etc")

    @property
    def queue_dir(self):
        return os.path.join(self.dir, "queue")

    @property
    def sink_dir(self):
        return os.path.join(self.dir, "mail", "sink", "new")

    @property
    def maillog_path(self):
        return os.path.join(self.dir, "log", "maillog")

    # -- configuration -----------------------------------------------------

    def main_cf(self):
        d = self.dir
        pf = pwd.getpwnam("postfix")
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(d, "queue"),
            "data_directory": os.path.join(d, "data"),
            "myhostname": self.myhostname,
            "mydomain": "example.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "inet_interfaces": "all",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "maillog_file": self.maillog_path,
            "maillog_file_prefixes": os.path.join(d, "log") + "/",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "append_dot_mydomain": "no",
            "smtpd_banner": "$myhostname ESMTP mtatls test instance",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            # Only the test's own traffic: keep retries and waits short.
            "queue_run_delay": "5s",
            "minimal_backoff_time": "5s",
            "maximal_backoff_time": "10s",
            "in_flow_delay": "0",
            "smtpd_error_sleep_time": "0",
            "smtp_connect_timeout": "10s",
        }
        if self.relay_to is None:
            settings.update({
                "virtual_mailbox_domains": "static:all",
                "virtual_mailbox_maps": "static:sink/",  # trailing slash: Maildir
                "virtual_mailbox_base": os.path.join(d, "mail"),
                "virtual_uid_maps": "static:%d" % pf.pw_uid,
                "virtual_gid_maps": "static:%d" % pf.pw_gid,
                "virtual_minimum_uid": "1",
                "virtual_mailbox_limit": "0",
            })
        else:
            host, port = self.relay_to
            # No blanks inside the braces: main.cf splits the list at them.
            entries = ",".join("%s=smtp:[%s]:%d" % (dom, host, int(port))
                               for dom in self.relay_domains)
            settings.update({
                "relay_domains": "static:all",
                "transport_maps": "inline:{%s}" % entries,
                "smtp_tls_security_level": self.relay_tls,
                "smtp_tls_loglevel": "1",
            })
            if self.relay_ca:
                settings["smtp_tls_CAfile"] = self.relay_ca
        if self.tls:
            if not (self.cert_file and self.key_file):
                raise PostfixError("tls=True needs pki or cert_file/key_file")
            settings.update({
                "smtpd_tls_cert_file": self.cert_file,
                "smtpd_tls_key_file": self.key_file,
                "smtpd_tls_security_level": "may",
                "smtpd_tls_loglevel": "1",
                "smtpd_tls_received_header": "yes",
            })
            if not self.starttls:
                settings["smtpd_discard_ehlo_keywords"] = "silent-discard, starttls"
            if self.ask_ccert:
                settings.update({
                    "smtpd_tls_ask_ccert": "yes",
                    "smtpd_tls_CAfile": self.ca_file,
                })
        else:
            settings.update({
                "smtpd_tls_security_level": "none",
                "smtpd_use_tls": "no",
                # Still 'yes' so a plaintext Received: header is comparable.
                "smtpd_tls_received_header": "yes",
            })
        settings.update(self.extra)
        return "".join("%s = %s\n" % kv for kv in settings.items())

    def master_cf(self):
        return _MASTER_CF.format(listen="%s:%d" % (self.address, self.port)) + self.extra_master

    # -- life cycle --------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _postfix(self, *args, timeout=60):
        return subprocess.run([POSTFIX, "-c", self.config_dir, *args], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)

    def start(self):
        if self.dir is not None:
            raise PostfixError("instance already started")
        if os.geteuid() != 0:
            raise PostfixError("a private Postfix instance must be started as root")
        if self.port == 0:
            self.port = _free_port(self.address)
        elif _port_open(self.address, self.port, 0.2):
            raise PostfixError("%s:%d is already in use (a stray instance?)"
                               % (self.address, self.port))
        t0 = time.monotonic()
        with _signals_deferred():  # no directory without its owner on record
            self.dir = tempfile.mkdtemp(prefix="mtatls-postfix-")
            _live.add(self)
        try:
            self._create_tree()
            if self.resolv_conf:
                # The bind mount lives as long as the namespace has a
                # process: the master that `postfix start` leaves behind.
                result = subprocess.run(
                    ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                     'mount --bind "$1" /etc/resolv.conf && exec "$2" -c "$3" start',
                     "sh", self.resolv_conf, POSTFIX, self.config_dir],
                    stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
            else:
                result = self._postfix("start")
            if result.returncode != 0:
                raise PostfixError("postfix start failed (exit %d):\n%s%s\n%s"
                                   % (result.returncode, result.stdout, result.stderr,
                                      self.diagnostics()))
            self._wait_started(t0)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0

    def _create_tree(self):
        pf = pwd.getpwnam("postfix")
        # mkdtemp makes 0700; the daemons run as postfix and must get through.
        os.chmod(self.dir, 0o755)
        # The configuration gets a directory of its own: postfix check wants
        # everything under config_directory owned by root.
        for sub in ("etc", "queue", "log"):
            os.makedirs(os.path.join(self.dir, sub), mode=0o755)
        for sub in ("data", "mail"):
            path = os.path.join(self.dir, sub)
            os.makedirs(path, mode=0o700)
            os.chown(path, pf.pw_uid, pf.pw_gid)
        for name, text in (("main.cf", self.main_cf()), ("master.cf", self.master_cf())):
            path = os.path.join(self.config_dir, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(path, 0o644)
            # Postfix re-reads main.cf in 300 ms naps until its mtime is
            # about two seconds old (in case it is still being written), so
            # a fresh file made every start take 2-3 s.  Backdated: 0.45 s.
            backdated = time.time() - 60
            os.utime(path, (backdated, backdated))

    def _wait_started(self, t0):
        pid_file = os.path.join(self.queue_dir, "pid", "master.pid")
        deadline = t0 + self.start_timeout
        while time.monotonic() < deadline:
            if self.master_pid is None:
                self.master_pid = _read_pid(pid_file)
            if self.master_pid is not None and not _alive(self.master_pid):
                raise PostfixError("the master (pid %d) exited during start-up\n%s"
                                   % (self.master_pid, self.diagnostics()))
            if self.master_pid is not None and _port_open(self.address, self.port, 0.5):
                return
            time.sleep(0.02)
        raise PostfixError("%s:%d did not accept connections within %.0f s\n%s"
                           % (self.address, self.port, self.start_timeout, self.diagnostics()))

    def stop(self):
        """Stops the master and every process it left, then removes the
        directory.  Safe to call twice, and after a failed start."""
        with _signals_deferred():
            self._stop()

    def _stop(self):
        if self.dir is None:
            return
        t0 = time.monotonic()
        try:
            pid = self.master_pid or _read_pid(os.path.join(self.queue_dir, "pid", "master.pid"))
            # Only a process working in our directory is ours: a pid read
            # from a file could by now belong to anything.
            if pid is not None and _alive(pid) and _inside(_cwd(pid), self.dir):
                # SIGTERM to the master is what `postfix stop` does, but the
                # script then polls in 1 s sleeps, so a master that needs
                # 20 ms to exit made a stop take a second.
                _signal(pid, signal.SIGTERM)
                if not _wait_gone([pid], 10.0):
                    _signal(pid, signal.SIGKILL)
                    _wait_gone([pid], 2.0)
            # Every Postfix daemon runs in queue_directory, so whatever still
            # works inside DIR is a leftover of this instance (also after a
            # start that failed before the pid file was read).  Typically a
            # child the master forked just before the stop, still in the
            # master's image and asleep: it ignores SIGTERM and would need
            # up to a second to go.  The instance is thrown away, so no
            # grace beyond 0.1 s.
            leftovers = _processes_in(self.dir)
            for child in leftovers:
                _signal(child, signal.SIGTERM)
            if leftovers and not _wait_gone(leftovers, 0.1):
                for child in leftovers:
                    _signal(child, signal.SIGKILL)
                _wait_gone(leftovers, 2.0)
        finally:
            self.stop_seconds = time.monotonic() - t0
            _live.discard(self)
            if not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self.master_pid = None

    # -- results -----------------------------------------------------------

    def messages(self):
        """Every message delivered to the sink so far, oldest first, as the
        bytes of the Maildir file (LF line ends; Return-Path, Delivered-To
        and Received prepended by Postfix)."""
        try:
            names = os.listdir(self.sink_dir)
        except FileNotFoundError:
            return []
        paths = [os.path.join(self.sink_dir, n) for n in names]
        paths.sort(key=lambda p: (os.stat(p).st_mtime_ns, p))
        out = []
        for path in paths:
            with open(path, "rb") as f:
                out.append(f.read())
        return out

    def wait_for_messages(self, count=1, timeout=10.0):
        """Waits until the sink holds at least `count` messages; returns them
        (possibly fewer after the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages()
            if len(msgs) >= count or time.monotonic() >= deadline:
                return msgs
            time.sleep(0.05)

    def queue_count(self):
        """Messages still in the queue (sender role: not yet relayed)."""
        n = 0
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _root, _dirs, files in os.walk(os.path.join(self.queue_dir, sub)):
                n += len(files)
        return n

    def wait_queue_empty(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while self.queue_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.queue_count() == 0

    def maillog(self):
        try:
            with open(self.maillog_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern, timeout=10.0):
        """Waits until the maillog matches the regular expression; returns the
        match or None.  Postfix writes log lines asynchronously (postlogd)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.maillog())
            if m or time.monotonic() >= deadline:
                return m
            time.sleep(0.05)

    def diagnostics(self):
        """`postfix check` output and the end of the maillog.  Postfix reports
        fatal start-up errors only to syslog unless stderr is a terminal, so
        the check runs under `script` to get a pseudo-terminal."""
        parts = []
        if self.dir and os.path.isdir(self.dir):
            cmd = "%s -c %s check" % (POSTFIX, _shell_quote(self.config_dir))
            try:
                r = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdin=subprocess.DEVNULL,
                                   capture_output=True, text=True, timeout=60)
                parts.append("postfix check (exit %d):\n%s" % (r.returncode, r.stdout + r.stderr))
            except (OSError, subprocess.TimeoutExpired) as e:
                parts.append("postfix check could not run: %s" % e)
            log = self.maillog()
            if log:
                parts.append("maillog (last 30 lines):\n" + "\n".join(log.splitlines()[-30:]))
        return "\n".join(parts)


# -- process and socket helpers ----------------------------------------------

def _shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def _free_port(address):
    """A port nothing listens on at `address` now.  Postfix binds it a moment
    later; another process taking it in between makes start() fail clearly."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def _port_open(address, port, timeout):
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _read_pid(path):
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid):
    # A zombie counts as gone: the master is not our child, and PID 1 in a
    # container may never reap it.
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rfind(")") + 2:][:1] not in ("Z", "X")


def _cwd(pid):
    try:
        return os.readlink("/proc/%d/cwd" % pid)
    except OSError:
        return None


def _inside(path, directory):
    return path is not None and (path == directory or path.startswith(directory + "/"))


def _is_postfix_program(pid):
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return False
    return exe.startswith(_POSTFIX_DAEMONS) or exe.startswith("/usr/sbin/post")


_POSTFIX_DAEMONS = "/usr/lib/postfix/"


def _processes_in(directory):
    """Live Postfix programs working in `directory` (so not, say, a shell
    someone opened there to look at a kept instance)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            pid = int(entry)
            if _inside(_cwd(pid), directory) and _is_postfix_program(pid) and _alive(pid):
                found.append(pid)
    return found


def _wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except OSError as e:
        if e.errno != errno.ESRCH:
            raise


__all__ = ["PostfixInstance", "PostfixError", "available", "stop_all", "stop_all_on_signals"]
