#!/usr/bin/env python3
"""peak-rss.py OUT CMD...: runs CMD and writes its memory to OUT, for bench/run.sh.

/usr/bin/time gives a process's peak RSS as one number. A consumer's RSS is two things:
its anonymous memory (librdkafka's queue, its buffers, ours), which the 64 MiB goal is
about, and the pages of the store's file that it maps (LMDB reads through a map of the
file, and with --no-sync writes through it too: MDB_WRITEMAP), which the page cache
holds and can take back. So /proc/PID/status is read every 20 ms and the peaks of
RssAnon and RssFile (+ RssShmem) are kept, besides the peak RSS of the whole (ru_maxrss).

OUT gets one line: hwm_kib=N anon_kib=N file_kib=N samples=N cpu_s=S, S being CMD's CPU
time, user and system (its rusage). Standard input, output and error are CMD's; the exit
status is CMD's (128 + N when a signal N ended it).
"""
import os
import subprocess
import sys
import time


def status(pid):
    """The Rss* fields of /proc/PID/status, in KiB."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Rss"):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


def main():
    if len(sys.argv) < 3:
        print("usage: peak-rss.py OUT CMD...", file=sys.stderr)
        return 64
    out, cmd = sys.argv[1], sys.argv[2:]
    p = subprocess.Popen(cmd)
    anon = fil = samples = 0
    while True:
        pid, st, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        s = status(p.pid)
        if s:
            samples += 1
            anon = max(anon, s.get("RssAnon", 0))
            fil = max(fil, s.get("RssFile", 0) + s.get("RssShmem", 0))
        time.sleep(0.02)
    with open(out, "w") as f:
        f.write("hwm_kib=%d anon_kib=%d file_kib=%d samples=%d cpu_s=%.3f\n"
                % (ru.ru_maxrss, anon, fil, samples, ru.ru_utime + ru.ru_stime))
    if os.WIFSIGNALED(st):
        return 128 + os.WTERMSIG(st)
    return os.WEXITSTATUS(st)


if __name__ == "__main__":
    sys.exit(main())
