"""minislurm.py: a real one-node Slurm cluster for tests: munged, slurmctld and
slurmd (Debian's slurm-wlm and munge, run as root) on this machine, talking
over 127.0.0.1 with a fresh munge key and a minimal slurm.conf written here
(select/cons_tres, proctrack/linuxproc, task/none: no cgroups). Every
daemon is started in the foreground by this module and stopped by its pid.
"""
import os
import shutil
import socket
import subprocess
import time

TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo")


class SlurmError(RuntimeError):
    pass


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def node_hardware():
    """CPUs / sockets / cores / threads as slurmd sees them (a node configured
    with more than it has is drained)."""
    r = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=30)
    fields = dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)
    return {k: fields[k] for k in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore")
            if k in fields}


class MiniSlurm:
    def __init__(self, base):
        self.base = base
        self.procs = []   # (name, Popen)
        self.conf = os.path.join(base, "slurm.conf")

    def env(self, **extra):
        e = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        e["SLURM_CONF"] = self.conf
        e.update(extra)
        return e

    def _path(self, *p):
        return os.path.join(self.base, *p)

    def _log_tails(self):
        out = []
        for f in ("munged.log", "slurmctld.log", "slurmd.log", "munged.out", "slurmctld.out", "slurmd.out"):
            p = self._path(f)
            if os.path.exists(p):
                lines = open(p, errors="replace").read().splitlines()[-15:]
                out.append("--- %s\n%s" % (f, "\n".join(lines)))
        return "\n".join(out)

    def _spawn(self, name, argv):
        log = open(self._path(name + ".out"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=self.env(), cwd=self.base)
        log.close()
        self.procs.append((name, p))
        return p

    def start(self, timeout=60):
        missing = [t for t in TOOLS if not shutil.which(t)]
        if missing:
            raise SlurmError("not installed: %s (scripts/install-deps installs slurm-wlm and munge)" %
                             " ".join(missing))
        if os.geteuid() != 0:
            raise SlurmError("the Slurm daemons of this test must run as root (uid %d)" % os.geteuid())
        os.chmod(self.base, 0o755)
        for d in ("munge", "sock", "state", "spool"):
            os.makedirs(self._path(d), exist_ok=True)
        os.chmod(self._path("munge"), 0o700)
        os.chmod(self._path("sock"), 0o755)   # munged wants the socket folder searchable by all
        key = self._path("munge", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        self.sock = self._path("sock", "munge.sock")
        ctld_port, d_port = free_ports(2)
        hw = node_hardware()
        if "CPUs" not in hw:
            raise SlurmError("slurmd -C printed no CPU count")
        node = " ".join("%s=%s" % kv for kv in hw.items())
        b = self.base
        with open(self.conf, "w") as f:
            f.write(f"""# written by tests/slurm/minislurm.py
ClusterName=ovxtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.sock}
StateSaveLocation={b}/state
SlurmdSpoolDir={b}/spool
SlurmctldPidFile={b}/slurmctld.pid
SlurmdPidFile={b}/slurmd.pid
SlurmctldLogFile={b}/slurmctld.log
SlurmdLogFile={b}/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
KillWait=10
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost {node} RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""")
        t0 = time.time()
        self._spawn("munged", ["munged", "-F", "--socket=" + self.sock, "--key-file=" + key,
                               "--log-file=" + self._path("munged.log"), "--pid-file=" + self._path("munged.pid"),
                               "--seed-file=" + self._path("munge", "seed")])
        self._wait(lambda: os.path.exists(self.sock), "munged socket", t0 + 15)
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", self.conf])
        self._spawn("slurmd", ["slurmd", "-D", "-N", "localhost", "-f", self.conf])

        def node_idle():
            r = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True,
                               env=self.env(), timeout=10)
            return r.returncode == 0 and r.stdout.strip() == "idle"
        self._wait(node_idle, "node localhost idle", t0 + timeout)
        self.startup_seconds = time.time() - t0
        return self

    def _wait(self, cond, what, deadline):
        while time.time() < deadline:
            for name, p in self.procs:
                if p.poll() is not None:
                    raise SlurmError("%s exited (%d) while waiting for %s\n%s" % (name, p.returncode, what,
                                                                                  self._log_tails()))
            if cond():
                return
            time.sleep(0.1)
        raise SlurmError("timed out waiting for %s\n%s" % (what, self._log_tails()))

    def run(self, *argv, cwd=None, env=None, check=True):
        r = subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd, env=env or self.env(),
                           timeout=60)
        if check and r.returncode != 0:
            raise SlurmError("%s failed (%d): %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
        return r

    def sbatch(self, *args, cwd=None, env=None):
        """Submits; returns the job id."""
        r = self.run("sbatch", "--parsable", *args, cwd=cwd, env=env)
        return r.stdout.strip().split(";")[0]

    def active(self, job):
        r = self.run("squeue", "-h", "-j", job, "-o", "%i %T", check=False)
        return [ln for ln in r.stdout.splitlines() if ln.strip()]

    def wait(self, job, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.active(job):
                return
            for name, p in self.procs:
                if p.poll() is not None:
                    raise SlurmError("%s died while job %s ran\n%s" % (name, job, self._log_tails()))
            time.sleep(0.2)
        raise SlurmError("job %s still running after %d s: %s" % (job, timeout, self.active(job)))

    def tasks(self, job):
        """{array task id: (JobState, exit code)} of a finished array job."""
        r = self.run("scontrol", "-o", "show", "job", job)
        out = {}
        for line in r.stdout.splitlines():
            f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if "ArrayTaskId" in f:
                out[int(f["ArrayTaskId"])] = (f.get("JobState"), f.get("ExitCode"))
        return out

    def stop(self):
        """Cancels every job, then stops the daemons (slurmd, slurmctld, munged) by pid."""
        if any(p.poll() is None for n, p in self.procs if n == "slurmctld"):
            subprocess.run(["scancel", "--full", "-u", "root"], env=self.env(), capture_output=True, timeout=30)
            deadline = time.time() + 20
            while time.time() < deadline:
                r = subprocess.run(["squeue", "-h", "-o", "%i"], env=self.env(), capture_output=True, text=True,
                                   timeout=30)
                if r.returncode != 0 or not r.stdout.strip():
                    break
                time.sleep(0.2)
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
