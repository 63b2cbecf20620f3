"""delivery.py - the "delivery" benchmark: full-handshake STARTTLS deliveries
on loopback to one smtp-sink, four ways, in one run:

  raw OpenSSL loop     delivery-loop --mode openssl: the same SMTP dialogue with
                       plain OpenSSL in one process (the floor: TLS + SMTP only)
  module loop          delivery-loop --mode module: the shim/host engine and
                       mtatls.so in one process, exactly as mtatls-send drives them
  mtatls-send          one process per delivery, as an MTA pipe transport runs it
  Postfix              a private Postfix relaying to the sink with
                       smtp_tls_security_level = encrypt, no connection cache and
                       no TLS session cache; once timed from injection (sendmail,
                       C at a time) to the sink having them all, once from
                       releasing the same number of already queued (held) messages

Every delivery is a full handshake (no session is reused anywhere).  For
each mode the table gives deliveries/s and CPU per delivery three ways:
the client's (the loop's own getrusage; the reaped mtatls-send processes;
for Postfix its master with every daemon, plus sendmail/postdrop), the
sink's, and the whole machine's busy time from /proc/stat (which also has
the kernel's loopback work, this script, and anything else running: the
idle figure printed with each table says whether that was quiet).

Builds nothing: meson passes the paths (bench/meson.build).  Postfix needs
root and /usr/sbin/postfix; without them its rows are skipped.  A benchmark,
not a test: it fails only when deliveries fail.

usage: delivery.py --loop EXE --send EXE --module SO --sink EXE --pki-script SH
                   --support-dir DIR [--quick] [--count N] [--postfix-count N]
                   [--concurrency 1,4]
"""
import argparse
import collections
import concurrent.futures
import functools
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

MX_NAME = "mx.example.test"
SENDER = "bench@client.example.test"
RCPT = "rcpt@example.test"
HZ = os.sysconf("SC_CLK_TCK")


def message(subject):
    """About 2 KB, like delivery-loop's message."""
    text = "From: <%s>\nTo: <%s>\nSubject: %s\nMessage-ID: <bench@client.example.test>\n\n" % (
        SENDER, RCPT, subject)
    while len(text) < 2000:
        text += "The quick brown fox jumps over the lazy dog, again and again and again.\n"
    return text


# -- CPU accounting -------------------------------------------------------------

def machine_busy_ms():
    """Busy CPU of the whole machine so far (all cores): user, nice, system,
    irq, softirq and steal from /proc/stat; idle and iowait are not busy."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) * 1000.0 / HZ


def _stat(pid):
    """The fields of /proc/PID/stat after the command name (state first)."""
    with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as f:
        return f.read().rsplit(")", 1)[1].split()


def process_cpu_ms(pid):
    rest = _stat(pid)
    return (int(rest[11]) + int(rest[12])) * 1000.0 / HZ  # utime + stime


def tree_cpu_ms(pid):
    """CPU of a daemon, its live children and every child it has reaped
    (cutime/cstime): a Postfix master and all of its daemons."""
    total = 0
    for entry in os.listdir("/proc"):
        try:
            rest = _stat(int(entry)) if entry.isdigit() else None
        except OSError:  # gone meanwhile: its time is in the parent's cutime
            continue
        if rest and (int(entry) == pid or int(rest[1]) == pid):
            total += sum(int(x) for x in rest[11:15])  # utime stime cutime cstime
    return total * 1000.0 / HZ


def children_cpu_ms():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000.0


class Sink:
    """One smtp-sink for every mode; its log (one line per accepted message)
    goes to a file and is counted from there."""

    DELIVERED = re.compile(rb" tls=(\S+) cipher=\S+ rcpt=\d+ size=")

    def __init__(self, exe, pki, workdir):
        self.log_path = os.path.join(workdir, "sink.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [exe, "--listen", "127.0.0.1:0", "--cert", os.path.join(pki, "server.pem"),
             "--key", os.path.join(pki, "server.key"), "--hostname", MX_NAME],
            stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL)
        ready = self.proc.stdout.readline().decode().split()
        if len(ready) != 2 or ready[0] != "ready":
            raise SystemExit("delivery.py: smtp-sink did not start: %r" % ready)
        self.address = ready[1]
        self.port = int(self.address.rsplit(":", 1)[1])
        self.delivered = 0
        self.plaintext = 0
        self._offset = 0

    def count(self):
        with open(self.log_path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        data = data[:data.rfind(b"\n") + 1]  # whole lines only
        self._offset += len(data)
        for m in self.DELIVERED.finditer(data):
            self.delivered += 1
            self.plaintext += m.group(1) == b"none"
        return self.delivered

    def wait_for(self, total, timeout):
        deadline = time.monotonic() + timeout
        while self.count() < total:
            if time.monotonic() > deadline:
                raise SystemExit("delivery.py: the sink got %d of %d messages in %.0f s"
                                 % (self.delivered, total, timeout))
            time.sleep(0.005)

    def cpu_ms(self):
        return process_cpu_ms(self.proc.pid)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class Window:
    """Wall time and CPU over one measured run of `n` deliveries.  The
    client's CPU is that of our reaped children (mtatls-send, sendmail and
    postdrop) plus `daemons` (Postfix's master and everything under it)."""

    def __init__(self, sink, daemons=lambda: 0.0):
        self.sink = sink
        self.daemons = daemons
        self.t0 = time.monotonic()
        self.busy0 = machine_busy_ms()
        self.sink0 = sink.cpu_ms()
        self.client0 = children_cpu_ms() + daemons()
        self.base = sink.count()

    def row(self, mode, n, seconds=None, client_ms=None):
        # Everything the run caused must be over before the CPU is read.
        self.sink.wait_for(self.base + n, 120)
        if seconds is None:
            seconds = time.monotonic() - self.t0
        if client_ms is None:
            client_ms = (children_cpu_ms() + self.daemons() - self.client0) / n
        return {"mode": mode, "n": n, "rate": n / seconds, "client": client_ms,
                "sink": (self.sink.cpu_ms() - self.sink0) / n,
                "machine": (machine_busy_ms() - self.busy0) / n}


# -- the modes ------------------------------------------------------------------

def run_loop(a, sink, mode, n, concurrency, config, ca):
    window = Window(sink)
    r = subprocess.run([a.loop, "--mode", mode, "--next-hop", sink.address, "--count", str(n),
                        "--concurrency", str(concurrency), "--ca", ca, "--config", config,
                        "--module", a.module], capture_output=True, text=True)
    result = dict(kv.split("=", 1) for line in r.stdout.splitlines()
                  if line.startswith("result ") for kv in line.split()[1:])
    if r.returncode != 0 or not result:
        raise SystemExit("delivery.py: delivery-loop --mode %s failed:\n%s%s"
                         % (mode, r.stdout, r.stderr))
    # The loop's own clock: it starts after the module and config are loaded.
    return window.row("%s loop" % ("module" if mode == "module" else "raw OpenSSL"), n,
                      seconds=float(result["seconds"]),
                      client_ms=float(result["user_ms"]) + float(result["sys_ms"]))


def run_send(a, sink, n, concurrency, config, message_path):
    cmd = [a.send, "--config", config, "--module", a.module, "--next-hop", sink.address,
           "--mx-name", MX_NAME, "--helo", "client.example.test", "-f", SENDER, "--", RCPT]

    def one(_):
        with open(message_path, "rb") as stdin:
            r = subprocess.run(cmd, stdin=stdin, capture_output=True)
        return r.returncode, r.stderr.decode(errors="replace")

    window = Window(sink)
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(n)))
    failed = [err for code, err in results if code != 0]
    if failed:
        raise SystemExit("delivery.py: %d mtatls-send runs failed; first:\n%s"
                         % (len(failed), failed[0]))
    return window.row("mtatls-send per delivery", n)


def queued_files(pf, queue):
    return sum(len(files) for _root, _dirs, files in os.walk(os.path.join(pf.queue_dir, queue)))


def run_postfix(a, sink, n, concurrency, pki, workdir):
    sys.path.insert(0, a.support_dir)
    import postfix_instance  # the tests' throwaway Postfix

    checks = os.path.join(workdir, "header_checks")
    with open(checks, "w", encoding="ascii") as f:
        f.write("/^Subject: .*held/ HOLD\n")
    extra = {
        # Every delivery a new connection and a full handshake.
        "smtp_connection_cache_on_demand": "no",
        "smtp_tls_session_cache_database": "",
        # As many parallel deliveries as the other clients make.
        "smtp_destination_concurrency_limit": str(concurrency),
        "initial_destination_concurrency": str(concurrency),
        "header_checks": "regexp:" + checks,
    }
    sendmail = ["/usr/sbin/sendmail", "-C", None, "-f", SENDER, RCPT]
    rows = []
    with postfix_instance.PostfixInstance("127.0.0.31", pki=pki, relay_to=("127.0.0.1",
                                          sink.port), relay_tls="encrypt", extra=extra) as pf:
        sendmail[2] = pf.config_dir
        plain, held = message("delivery benchmark").encode(), message("held").encode()

        def inject(text):  # as many submitters at a time as the other clients have
            with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(lambda _: subprocess.run(sendmail, input=text, check=True),
                              range(n)))

        def postfix(*args):
            subprocess.run([args[0], "-c", pf.config_dir, *args[1:]], check=True,
                           capture_output=True)

        # (1) What a Postfix user sees: hand over N messages, wait for all.
        daemons = functools.partial(tree_cpu_ms, pf.master_pid)
        window = Window(sink, daemons)
        inject(plain)
        injected_s = time.monotonic() - window.t0
        sink.wait_for(window.base + n, 300)
        seconds = time.monotonic() - window.t0
        pf.wait_queue_empty(60)
        rows.append(window.row("Postfix, injected -> sink", n, seconds=seconds))
        rows[-1]["note"] = "sendmail took %.2f s for %d" % (injected_s, n)

        # (2) Postfix's delivery side only: N messages already queued (held
        # by header_checks), released at once.
        inject(held)
        deadline = time.monotonic() + 60
        while queued_files(pf, "hold") < n and time.monotonic() < deadline:
            time.sleep(0.05)
        window = Window(sink, daemons)
        postfix("/usr/sbin/postsuper", "-H", "ALL")
        postfix("/usr/sbin/postqueue", "-f")
        sink.wait_for(window.base + n, 300)
        seconds = time.monotonic() - window.t0
        pf.wait_queue_empty(60)
        rows.append(window.row("Postfix, queued -> sink", n, seconds=seconds))
        # Postfix logs "established" for a full handshake, "reused" for a
        # resumed session.
        kinds = collections.Counter(re.findall(r"smtp\[\d+\]: (\w+ TLS connection \w+)",
                                               pf.maillog()))
        rows[-1]["note"] = "maillog, %d messages: %s" % (2 * n, ", ".join(
            "%d x %s" % (count, kind) for kind, count in sorted(kinds.items())))
    return rows


# -- report ---------------------------------------------------------------------

def ratio(value, reference):
    return "%.2fx" % (value / reference) if value and reference else "-"


def print_table(title, rows, postfix):
    raw = rows[0]
    print()
    print(title)
    print("%-26s %6s %7s %6s %7s | %-20s | %-20s" % (
        "", "", "client", "sink", "machine", "vs raw OpenSSL loop", "vs Postfix injected"))
    print("%-26s %6s %7s %6s %7s | %6s %6s %6s | %6s %6s %6s" % (
        "mode", "dlv/s", "CPU ms", "CPU ms", "CPU ms",
        "rate", "client", "mach.", "rate", "client", "mach."))
    for r in rows:
        cells = ["%-26s %6.0f %7.2f %6.2f %7.2f" % (
            r["mode"], r["rate"], r["client"], r["sink"], r["machine"])]
        for ref in (raw, postfix):
            cells.append(" ".join("%6s" % (ratio(r[k], ref[k]) if ref else "-")
                                  for k in ("rate", "client", "machine")))
        print(" | ".join(cells))
    for r in rows:
        if r.get("note"):
            print("  %s: %s" % (r["mode"], r["note"]))


def background_ms_per_s(seconds=1.0):
    b0, t0 = machine_busy_ms(), time.monotonic()
    time.sleep(seconds)
    return (machine_busy_ms() - b0) / (time.monotonic() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("--loop", "--send", "--module", "--sink", "--pki-script", "--support-dir"):
        p.add_argument(name, required=True)
    p.add_argument("--quick", action="store_true", help="50 deliveries (30 via Postfix), C=1")
    p.add_argument("--count", type=int, help="deliveries per client mode (default 500)")
    p.add_argument("--postfix-count", type=int, help="messages per Postfix run (default 300)")
    p.add_argument("--concurrency", help="comma-separated client concurrencies (default 1,4)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = p.parse_args()
    n = a.count or (50 if a.quick else 500)
    n_pf = a.postfix_count or (30 if a.quick else 300)
    levels = [int(c) for c in (a.concurrency or ("1" if a.quick else "1,4")).split(",")]
    with_postfix = os.geteuid() == 0 and os.access("/usr/sbin/postfix", os.X_OK)

    workdir = tempfile.mkdtemp(prefix="mtatls-bench-delivery-")
    os.chmod(workdir, 0o755)  # Postfix's daemons read the PKI and header_checks here
    pki = os.path.join(workdir, "pki")
    subprocess.run(["sh", a.pki_script, pki], check=True)
    ca = os.path.join(pki, "ca.pem")
    config = os.path.join(workdir, "bench.yaml")
    with open(config, "w", encoding="ascii") as f:
        f.write("tls: required\ntls_verify: host\ntls_ca: %s\n" % ca)
    message_path = os.path.join(workdir, "message.txt")
    with open(message_path, "w", encoding="ascii") as f:
        f.write(message("delivery benchmark"))

    print("delivery benchmark%s: %d deliveries per client mode, %d per Postfix run, %d cores"
          % (" (--quick)" if a.quick else "", n, n_pf, os.cpu_count()))
    sink = Sink(a.sink, pki, workdir)
    try:
        run_loop(a, sink, "openssl", min(n, 50), 1, config, ca)  # warm-up, not reported
        for c in levels:
            before = background_ms_per_s()
            rows = [run_loop(a, sink, "openssl", n, c, config, ca),
                    run_loop(a, sink, "module", n, c, config, ca),
                    run_send(a, sink, n, c, config, message_path)]
            if with_postfix:
                rows += run_postfix(a, sink, n_pf, c, pki, workdir)
            after = background_ms_per_s()
            print_table("client concurrency %d; CPU ms per delivery; machine = /proc/stat, all "
                        "cores, sink and everything else included" % c, rows,
                        rows[3] if with_postfix else None)
            print("  machine CPU while idle, before / after: %.0f / %.0f ms/s%s" % (
                before, after, "  WARNING: something else is running; machine column inflated"
                if max(before, after) > 50 else ""))
        if not with_postfix:
            print("Postfix rows skipped: they need root and /usr/sbin/postfix")
        sink.count()
        if sink.plaintext:
            print("WARNING: %d messages reached the sink without TLS" % sink.plaintext)
    finally:
        sink.stop()
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
