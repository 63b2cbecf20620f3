"""policyd.py - the "policyd" benchmark: Postfix TLS policy lookups per second
through mtatls-policyd's socket, against baselines measured in the same run:

  fixed server     socketmap-fixed: the same event loop and socket code
                   answering every request with one fixed reply (as long as
                   a typical policy), no module: what the socket costs
  mtatls-policyd   the daemon with the real module and a configuration of
                   --stanzas domain stanzas (exact, regex, in bindings): each
                   lookup resolves the policy (CONFIG_EXPLAIN) and maps it

Clients:
  socketmap-load   C connections, each sending one request and reading its
                   reply (as Postfix's smtp processes do; --pipeline 1), or P
                   requests in flight (the server's own ceiling)
  postmap          Postfix's own socketmap client: `postmap -q - socketmap:...
                   < keys`, one connection, one lookup after the other

For each row: lookups/s against the fixed server and against mtatls-policyd,
their ratio, and the daemon's CPU per lookup (its utime+stime over the
row).  A benchmark, not a test: it fails only when lookups fail.

usage: policyd.py --policyd EXE --module SO --fixed EXE --load EXE
                  [--quick] [--seconds S] [--stanzas N]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HZ = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid):
    with open("/proc/%d/stat" % pid, encoding="ascii") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) * 1000.0 / HZ


def write_config(path, stanzas):
    """tls: ifavailable, `stanzas` exact domain stanzas (a third verify
    host, a third required, a third no TLS), a few regexes and bindings."""
    lines = ["tls: ifavailable", "tls_ciphers: \"HIGH:!aNULL:!MD5\"", "domain:"]
    for i in range(stanzas):
        kind = i % 3
        if kind == 0:
            lines.append("  d%d.example: {tls: required, tls_verify: host}" % i)
        elif kind == 1:
            lines.append("  d%d.example: {tls: required}" % i)
        else:
            lines.append("  d%d.example: {tls: \"no\"}" % i)
    lines += ["  '/\\.gov\\.example$/': {tls: required, tls_verify: host}",
              "  '/^mx[0-9]+\\./': {tls: required}",
              "binding:",
              "  customer-1:",
              "    tls_protocols: \"-ALL:+TLSv1.3\"",
              "    domain:"]
    for i in range(0, stanzas, 10):
        lines.append("      d%d.example: {tls: required, tls_verify: host}" % i)
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")


def write_keys(path, stanzas, count=4000):
    """Next-hops as Postfix sends them: stanza domains, unknown domains,
    regex matches and bracketed hosts with ports."""
    keys = []
    for i in range(count):
        kind = i % 8
        if kind < 4:
            keys.append("d%d.example" % ((i * 37) % max(stanzas, 1)))
        elif kind == 4:
            keys.append("other%d.example.net" % i)
        elif kind == 5:
            keys.append("x%d.gov.example" % i)
        elif kind == 6:
            keys.append("[mx%d.example.org]:587" % i)
        else:
            keys.append("[192.0.2.%d]" % (i % 250 + 1))
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(keys) + "\n")
    return len(keys)


class Server:
    def __init__(self, args, ready_prefix, stderr_path):
        self.stderr = open(stderr_path, "w+", encoding="utf-8")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True)
        self.ready_prefix = ready_prefix

    def wait_ready(self, path_for_log=None, timeout=30):
        deadline = time.monotonic() + timeout
        if path_for_log is None:  # socketmap-fixed prints "ready ..."
            line = self.proc.stdout.readline()
            if not line.startswith("ready"):
                raise SystemExit("policyd.py: socketmap-fixed did not start")
            return line.split()[1:]
        while time.monotonic() < deadline:
            with open(path_for_log, encoding="utf-8") as f:
                text = f.read()
            if "info: started:" in text:
                where = text.split("listening on ", 1)[1].split(", at most", 1)[0]
                return where.split(", ")
            if self.proc.poll() is not None:
                raise SystemExit("policyd.py: mtatls-policyd did not start:\n" + text)
            time.sleep(0.05)
        raise SystemExit("policyd.py: mtatls-policyd did not start in time")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.stderr.close()


def run_load(a, address, name, keys, connections, pipeline, seconds):
    r = subprocess.run([a.load, "--connect", address, "--name", name, "--keys", keys,
                        "--connections", str(connections), "--pipeline", str(pipeline),
                        "--seconds", str(seconds)], capture_output=True, text=True)
    fields = dict(kv.split("=", 1) for line in r.stdout.splitlines()
                  if line.startswith("result ") for kv in line.split()[1:])
    if r.returncode != 0 or not fields:
        raise SystemExit("policyd.py: socketmap-load failed (%s):\n%s%s" % (address, r.stdout, r.stderr))
    return int(fields["lookups"]), float(fields["seconds"])


def run_postmap(address, name, keys):
    table = "socketmap:%s:%s" % (address, name)
    t0 = time.monotonic()
    with open(keys, encoding="ascii") as f:
        r = subprocess.run(["/usr/sbin/postmap", "-q", "-", table], stdin=f, capture_output=True,
                           text=True)
    seconds = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit("policyd.py: postmap failed:\n" + r.stderr)
    return len(r.stdout.splitlines()), seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("--policyd", "--module", "--fixed", "--load"):
        p.add_argument(name, required=True)
    p.add_argument("--quick", action="store_true", help="1 s per row, 300 stanzas")
    p.add_argument("--seconds", type=float, help="seconds per socketmap-load row (default 3)")
    p.add_argument("--stanzas", type=int, help="domain stanzas in the configuration (default 3000)")
    a = p.parse_args()
    seconds = a.seconds or (1.0 if a.quick else 3.0)
    stanzas = a.stanzas or (300 if a.quick else 3000)

    work = tempfile.mkdtemp(prefix="mtatls-bench-policyd-")
    config = os.path.join(work, "policy.yaml")
    keys = os.path.join(work, "keys.txt")
    write_config(config, stanzas)
    nkeys = write_keys(keys, stanzas)
    # The fixed reply is as long as a typical policy, so both servers send
    # the same bytes.
    reply = ("OK verify match=hostname:nexthop protocols=>=TLSv1.2 ciphers=high "
             "exclude=aNULL:MD5 servername=hostname")
    policyd_log = os.path.join(work, "policyd.log")
    fixed = Server([a.fixed, "--listen", "unix:" + os.path.join(work, "fixed.sock"),
                    "--listen", "inet:127.0.0.1:0", "--reply", reply], "ready",
                   os.path.join(work, "fixed.log"))
    daemon = Server([a.policyd, "--module", a.module, "--config", config, "--listen",
                     "unix:" + os.path.join(work, "policyd.sock"), "--listen", "inet:127.0.0.1:0",
                     "--max-clients", "1024"], None, policyd_log)
    try:
        fixed_at = fixed.wait_ready()
        daemon_at = daemon.wait_ready(policyd_log)
        print("policyd benchmark%s: %d domain stanzas, %d keys, %.1f s per socketmap-load row, "
              "%d cores" % (" (--quick)" if a.quick else "", stanzas, nkeys, seconds, os.cpu_count()))
        print("%-38s %12s %12s %7s %12s" % ("client", "fixed lk/s", "policyd lk/s", "ratio",
                                            "policyd CPU"))
        rows = []
        for transport, index in (("unix", 0), ("inet", 1)):
            for connections, pipeline in ((1, 1), (8, 1), (1, 64)):
                rows.append(("socketmap-load %s C=%d P=%d" % (transport, connections, pipeline),
                             transport, index, connections, pipeline))
        # Warm-up (page cache, the module's first lookups), not reported.
        run_load(a, daemon_at[0], "default", keys, 1, 1, 0.3)
        for label, _transport, index, connections, pipeline in rows:
            n_fixed, s_fixed = run_load(a, fixed_at[index], "default", keys, connections, pipeline,
                                        seconds)
            cpu0 = cpu_ms(daemon.proc.pid)
            n_pd, s_pd = run_load(a, daemon_at[index], "default", keys, connections, pipeline,
                                  seconds)
            cpu = (cpu_ms(daemon.proc.pid) - cpu0) / n_pd * 1000.0
            print("%-38s %12.0f %12.0f %6.2fx %9.1f us" % (label, n_fixed / s_fixed, n_pd / s_pd,
                                                           (n_pd / s_pd) / (n_fixed / s_fixed), cpu))
        if os.access("/usr/sbin/postmap", os.X_OK):
            for transport, index in (("unix", 0), ("inet", 1)):
                n_fixed, s_fixed = run_postmap(fixed_at[index], "default", keys)
                cpu0 = cpu_ms(daemon.proc.pid)
                n_pd, s_pd = run_postmap(daemon_at[index], "default", keys)
                cpu = (cpu_ms(daemon.proc.pid) - cpu0) / max(n_pd, 1) * 1000.0
                if n_pd != nkeys or n_fixed != nkeys:
                    raise SystemExit("policyd.py: postmap answered %d and %d of %d keys"
                                     % (n_fixed, n_pd, nkeys))
                print("%-38s %12.0f %12.0f %6.2fx %9.1f us" % (
                    "postmap -q - (%s, %d keys)" % (transport, nkeys), n_fixed / s_fixed,
                    n_pd / s_pd, (n_pd / s_pd) / (n_fixed / s_fixed), cpu))
        else:
            print("postmap rows skipped: /usr/sbin/postmap not installed")
        print("ratio = policyd / fixed server (1.00x: the policy costs nothing measurable); "
              "CPU = the daemon's user+system time per lookup")
    finally:
        fixed.stop()
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
