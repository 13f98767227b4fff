#!/usr/bin/python3
"""The Kubernetes manifests: conf/kubernetes-sidecar.yaml (a pod whose
resolver is a dohstub sidecar) and conf/kubernetes-nodelocal.yaml (a
node-local DaemonSet), each run with the image as test_container.py
runs it (container.py), and each made to resolve a cluster name and an
external name, each by the right server.

Two servers stand in for the world: the cluster DNS (kube-dns), an
unbound answering plain DNS, and the DoH server the manifests name, an
unbound answering DNS-over-HTTPS.  Both know the cluster name
kubernetes.default.svc.cluster.local, the reverse name of its address
and the external name www.example.net, with different data, and both
log every query (log-queries): an answer's data says which server gave
it, and each log must hold only the names that belong there.

From each manifest the test takes the dohstub container as the kubelet
would run it: the image's environment, then the ConfigMap of envFrom,
then env (fieldRef status.hostIP and podIP are the container's address,
$(VAR) references expanded); command and args in place of the image's
entrypoint and cmd; runAsUser and runAsGroup; the pod's resolv.conf
from dnsPolicy None and dnsConfig (Default: a node's, naming a server
that is not there, since dohstub must need none).  It replaces only
what names the world outside the lab: the kube-dns ClusterIP in the
forward rules (whatever address the cluster.local rule gives) by the
stand-in's address and port, and the upstream, its pinned address and
the CA by the lab's DoH server's.  The initContainers run in the
container's network namespace with the host's sh and ip (twice: a pod
restarts).  A hostNetwork pod's clients are other pods of the node, so
queries come from the host end of the veth pair, routed to the listen
address through the container; a sidecar's come from the app container
in the same network namespace, through the pod's resolv.conf too.

Needs root, podman and python3-yaml (Debian's /usr/bin/python3 has it:
the test runs itself again with that one when the python3 that started
it has no yaml); skipped with the reason otherwise, or with
DOHSTUB_CONTAINER=0.  ctest label `container`, as test_container.py:
the image is built once for both (container.py).
"""

import ipaddress
import os
import re
import sys

try:
    import yaml
except ImportError:
    yaml = None
    if sys.executable != "/usr/bin/python3" and \
            os.access("/usr/bin/python3", os.X_OK):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import container as C  # noqa: E402
import lab  # noqa: E402
from lab import check  # noqa: E402

CLUSTER_NAME = "kubernetes.default.svc.cluster.local"
CLUSTER_A = "10.96.0.1"		# the cluster DNS's answer
CLUSTER_A_DOH = "192.0.2.250"	# the DoH server's (wrong) one
EXTERNAL = "www.example.net"
EXTERNAL_A = "198.51.100.80"	# the DoH server's answer
EXTERNAL_A_CLUSTER = "198.51.100.66"	# the cluster DNS's (wrong) one
PTR_NAME = "1.0.96.10.in-addr.arpa"


def teardown_module():
    C.cleanup()


# ---------------------------------------------------------------- the lab

_servers = None


def servers(ct):
    """(doh, cluster): the lab's DoH server and the stand-in cluster DNS,
    on the host end of the veth pair."""
    global _servers
    if _servers is None:
        common = ["access-control: %s/24 allow" % ct.ct_priv,
                  "log-queries: yes",
                  'local-zone: "cluster.local." static',
                  'local-zone: "example.net." static']
        doh = lab.Unbound("unbound-doh", plain=False, addr=ct.host_priv,
                          extra=common + [
                              'local-data: "%s. 60 A %s"' % (
                                  CLUSTER_NAME, CLUSTER_A_DOH),
                              'local-data-ptr: "%s wrong.example.net."' %
                              CLUSTER_A,
                              'local-data: "%s. 60 A %s"' % (
                                  EXTERNAL, EXTERNAL_A)])
        doh.start()
        C.undo(doh.stop)
        cluster = lab.Unbound("unbound-cluster", plain=True,
                              addr=ct.host_priv, extra=common + [
                                  'local-data: "%s. 5 A %s"' % (
                                      CLUSTER_NAME, CLUSTER_A),
                                  'local-data-ptr: "%s %s."' % (
                                      CLUSTER_A, CLUSTER_NAME),
                                  'local-data: "%s. 60 A %s"' % (
                                      EXTERNAL, EXTERNAL_A_CLUSTER)])
        cluster.start()
        C.undo(cluster.stop)
        _servers = doh, cluster
    return _servers


def asked(server, since):
    """The names server logged queries for (log-queries) after line
    since, lower case, with their final dot."""
    names = []
    for line in lab.tail(server.log, 100000).splitlines()[since:]:
        m = re.search(r" info: \S+ (\S+) \S+ IN$", line)
        if m:
            names.append(m.group(1).lower())
    return names


def log_mark(server):
    return len(lab.tail(server.log, 100000).splitlines())


# ---------------------------------------------------------------- manifests


def manifest(fname):
    """The documents of conf/FNAME."""
    if yaml is None:
        lab.skip("no yaml module (apt-get install python3-yaml)")
    with open(os.path.join(C.ROOT, "conf", fname)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pod_spec(docs):
    """The spec of the one pod the documents run (a Pod's, or a
    workload's template's)."""
    specs = []
    for d in docs:
        if d["kind"] == "Pod":
            specs.append(d["spec"])
        elif d["kind"] in ("DaemonSet", "Deployment", "StatefulSet"):
            specs.append(d["spec"]["template"]["spec"])
    check(len(specs) == 1, "%d pod specs in the manifest" % len(specs))
    return specs[0]


def dohstub_container(spec):
    cs = [c for c in spec["containers"] if c["name"] == "dohstub"]
    check(len(cs) == 1, "no container named dohstub")
    return cs[0]


def _expand(value, env):
    """$(VAR) as the kubelet expands it in env values, command and args:
    a defined variable's value, $$ a dollar, anything else as written."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else
                  env.get(m.group(1), m.group(0)), value)


def kubelet_env(docs, c, image_env, fields):
    """The container's environment: the image's, envFrom's ConfigMaps
    (found in the same manifest), then env, in that order."""
    env = dict(image_env)
    declared = {}		# what $(VAR) may refer to: not the image's
    for src in c.get("envFrom", []):
        ref = src["configMapRef"]["name"]
        cms = [d for d in docs if d["kind"] == "ConfigMap" and
               d["metadata"]["name"] == ref]
        check(len(cms) == 1, "envFrom: no ConfigMap %s in the manifest"
              % ref)
        for k, v in cms[0]["data"].items():
            declared[src.get("prefix", "") + k] = str(v)
    for e in c.get("env", []):
        if "value" in e:
            declared[e["name"]] = _expand(str(e["value"]), declared)
        else:
            path = e["valueFrom"]["fieldRef"]["fieldPath"]
            check(path in fields, "env %s: fieldRef %s" % (e["name"], path))
            declared[e["name"]] = fields[path]
    env.update(declared)
    return env, declared


def forward_rules(value):
    """DOHSTUB_FORWARD as [(zone, [target, ...])]."""
    rules = []
    for r in value.split(","):
        words = r.split()
        check(len(words) >= 2, "forward rule %r" % r)
        rules.append((words[0].lower().rstrip("."), words[1:]))
    return rules


def under(name, zone):
    name = name.lower().rstrip(".")
    return name == zone or name.endswith("." + zone)


def labify(env, ct, doh, cluster):
    """Replace what names the world outside the lab: the cluster DNS in
    the forward rules, the DoH upstream, its pin and its CA.  Returns
    the forward rules as the manifest wrote them."""
    check("DOHSTUB_FORWARD" in env, "no DOHSTUB_FORWARD in the manifest")
    rules = forward_rules(env["DOHSTUB_FORWARD"])
    zones = dict(rules)
    check("cluster.local" in zones, "no forward rule for cluster.local: %r"
          % env["DOHSTUB_FORWARD"])
    kube_dns = zones["cluster.local"]
    for t in kube_dns:
        check(not t.startswith("https:"), "cluster.local goes to %s, not "
              "to the cluster DNS over plain DNS" % t)
    lab_dns = "%s:%d" % (cluster.addr, cluster.plain_port)
    env["DOHSTUB_FORWARD"] = ", ".join(
        " ".join([z] + [lab_dns if t in kube_dns else t for t in ts])
        for z, ts in rules)
    env["DOHSTUB_UPSTREAM"] = doh.url
    env["DOHSTUB_DNSSEC"] = "process"	# the lab's zones are unsigned
    env["DOHSTUB_RESOLVE"] = doh.resolve
    env["DOHSTUB_CA_FILE"] = ct.ca
    return rules


def resolv_conf(spec):
    """The pod's /etc/resolv.conf as the kubelet writes it."""
    policy = spec.get("dnsPolicy", "ClusterFirst")
    if policy == "Default":
        # the node's: no resolver there, dohstub must need none
        return "nameserver 192.0.2.53\n"
    check(policy == "None", "dnsPolicy %s" % policy)
    dc = spec["dnsConfig"]
    text = "".join("nameserver %s\n" % a for a in dc["nameservers"])
    if dc.get("searches"):
        text += "search %s\n" % " ".join(dc["searches"])
    opts = ["%s:%s" % (o["name"], o["value"]) if "value" in o else o["name"]
            for o in dc.get("options", [])]
    if opts:
        text += "options %s\n" % " ".join(opts)
    return text


def addr_port(s):
    a, _, p = s.rpartition(":")
    return a.strip("[]"), int(p)


def http_port(c, port):
    """A probe's or annotation's port: a number or a port's name."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    ps = [p["containerPort"] for p in c.get("ports", [])
          if p.get("name") == port]
    check(len(ps) == 1, "no port named %s" % port)
    return ps[0]


# ---------------------------------------------------------------- the run


def dig(client, *args):
    return lab.run(client + ["+time=2", "+tries=1"] + list(args),
                   timeout=10)


def answers(r, rtype):
    return [l.split()[-1] for l in r.stdout.splitlines()
            if not l.startswith(";") and len(l.split()) >= 5 and
            l.split()[3] == rtype]


def run_manifest(fname):
    docs = manifest(fname)
    spec = pod_spec(docs)
    c = dohstub_container(spec)
    ct = C.container()
    doh, cluster = servers(ct)
    pod_ip = ct.ct_priv
    env, declared = kubelet_env(docs, c, ct.env(), {
        "status.hostIP": pod_ip, "status.podIP": pod_ip})
    rules = labify(env, ct, doh, cluster)
    rule_zones = [z for z, _ in rules]
    if spec.get("dnsPolicy") == "None":
        for s in spec["dnsConfig"].get("searches", []):
            check(any(under(s, z) for z in rule_zones),
                  "search domain %s is under no forward rule" % s)
    sc = dict(spec.get("securityContext") or {})
    sc.update(c.get("securityContext") or {})
    uid, gid = sc.get("runAsUser", ct.uid), sc.get("runAsGroup", ct.gid)
    check(uid != 0, "the dohstub container runs as root")
    lab.write_file(ct.root + "/etc/resolv.conf", resolv_conf(spec))
    cmd = ct.command([_expand(a, declared) for a in c["command"]]
                     if "command" in c else None,
                     [_expand(a, declared) for a in c["args"]]
                     if "args" in c else None)

    # the manifest's mode, with its plain forward rules: no error
    r = lab.run(ct.chroot("-nv", cmd=cmd, uid=uid, gid=gid), env=env)
    check(r.returncode == 0, "-nv: %s" % r.stderr)
    lab.note("-nv: " + " | ".join(l for l in r.stdout.splitlines()
                                  if l.startswith(("mode", "forward",
                                                   "listen", "metrics"))))

    for ic in spec.get("initContainers", []):
        argv = list(ic.get("command", [])) + list(ic.get("args", []))
        for _ in range(2):
            C.sh(ct.netns() + argv, what="initContainer %s" % ic["name"])

    listens = [addr_port(a.strip()) for a in
               env["DOHSTUB_LISTEN"].split(",")]
    metrics = addr_port(env["DOHSTUB_METRICS"])
    binds = {("udp", a, p) for a, p in listens} | \
        {("tcp", a, p) for a, p in listens} | {("tcp",) + metrics}
    if spec.get("hostNetwork"):
        # the node's pods: elsewhere, routed to the node's address
        for a, _ in listens:
            if not ipaddress.ip_address(a).is_loopback:
                C.sh(["ip", "route", "replace", a + "/32", "via",
                      ct.ct_priv, "dev", ct.hv])
                C.undo(lambda a=a: lab.run(["ip", "route", "del",
                                            a + "/32", "dev", ct.hv]))
        server, port = listens[0]
        client = ["dig", "-b", ct.host_priv, "@" + server, "-p", str(port)]
    else:
        # the app container: the same network namespace
        server, port = listens[0]
        client = ct.netns() + ["dig", "@" + server, "-p", str(port)]

    marks = log_mark(doh), log_mark(cluster)
    name = os.path.splitext(fname)[0]
    scrape = (pod_ip if ipaddress.ip_address(metrics[0]).is_unspecified
              else metrics[0], metrics[1])
    with C.Running(ct, ct.argv(cmd=cmd, uid=uid, gid=gid), env, binds,
                   name=name, metrics=scrape) as d:
        # nothing more: on the host network, port 53 of no other address
        check(d.bound() == binds, "listens on %s, want %s" % (
            sorted(d.bound()), sorted(binds)))
        check(d.status()["Uid"].split()[0] == str(uid),
              "runs as uid %s, want %d" % (d.status()["Uid"], uid))
        r = dig(client, CLUSTER_NAME, "A")
        check(answers(r, "A") == [CLUSTER_A] and "EDE: 0" in r.stdout,
              "%s: want %s from the cluster DNS, marked plain (EDE 0):\n%s"
              % (CLUSTER_NAME, CLUSTER_A, r.stdout or r.stderr))
        r = dig(client, "-x", CLUSTER_A)
        check(answers(r, "PTR") == [CLUSTER_NAME + "."],
              "-x %s: want %s from the cluster DNS:\n%s" % (
                  CLUSTER_A, CLUSTER_NAME, r.stdout or r.stderr))
        r = dig(client, EXTERNAL, "A")
        check(answers(r, "A") == [EXTERNAL_A] and "EDE" not in r.stdout,
              "%s: want %s over DoH:\n%s" % (EXTERNAL, EXTERNAL_A,
                                             r.stdout or r.stderr))
        app = [x for x in spec["containers"] if x["name"] != "dohstub"]
        if spec.get("dnsPolicy") == "None" and app:
            # through the pod's resolv.conf: search domains and ndots
            asc = dict(spec.get("securityContext") or {})
            asc.update(app[0].get("securityContext") or {})
            short = CLUSTER_NAME.split(".svc.")[0]
            r = lab.run(ct.netns() + ct.chroot(
                "ahostsv4", short, cmd=["getent"],
                uid=asc.get("runAsUser", 0),
                gid=asc.get("runAsGroup", asc.get("runAsUser", 0))),
                timeout=20)
            check(r.stdout.split()[:1] == [CLUSTER_A],
                  "getent ahostsv4 %s in the app container: %r %r" % (
                      short, r.stdout, r.stderr))

        # the probes and the scrape, where the kubelet and Prometheus go
        for probe in ("readinessProbe", "livenessProbe"):
            g = c[probe]["httpGet"]
            at = (g.get("host", pod_ip), http_port(c, g["port"]))
            st, body = lab.wait_for(
                lambda: (lambda r: r if r[0] == 200 else None)(
                    d.fetch(g["path"], at)), 10,
                what="%s %s:%d%s 200" % (probe, at[0], at[1], g["path"]))
            # readiness on /health; liveness on /metrics, which answers
            # while the loop runs, DoH or not
            want = "ok\n" if g["path"] == "/health" else "# HELP "
            check(body.startswith(want), "%s: %r" % (probe, body[:200]))
            check(probe == "readinessProbe" or g["path"] == "/metrics",
                  "%s on %s: a DoH outage would restart it" % (
                      probe, g["path"]))
        ann = spec_annotations(docs)
        check(ann.get("prometheus.io/scrape") == "true",
              "no prometheus.io/scrape annotation")
        st, body = d.fetch(ann.get("prometheus.io/path", "/metrics"),
                           (pod_ip, int(ann["prometheus.io/port"])))
        check(st == 200, "the scrape: %d" % st)
        check(d.counter("dohstub_answers_total", path="forward_plain") >= 2
              and d.counter("dohstub_answers_total", path="doh") >= 1,
              "answers not counted as forward_plain and doh")

        # each server asked only its own names
        def logged():
            a = asked(doh, marks[0]), asked(cluster, marks[1])
            return a if EXTERNAL + "." in a[0] and \
                CLUSTER_NAME + "." in a[1] else None
        via_doh, via_cluster = lab.wait_for(logged, 5, what="both servers "
                                            "to log the queries")
        lab.note("DoH server asked %s; cluster DNS asked %s" % (
            sorted(set(via_doh)), sorted(set(via_cluster))))
        check(all(not any(under(n, z) for z in rule_zones)
                  for n in via_doh),
              "the DoH server was asked a cluster name: %s" % via_doh)
        check(all(any(under(n, z) for z in rule_zones)
                  for n in via_cluster),
              "the cluster DNS was asked an external name: %s"
              % via_cluster)
        check(PTR_NAME + "." in via_cluster, "no PTR query to the "
              "cluster DNS: %s" % via_cluster)
        d.stop()


def spec_annotations(docs):
    for d in docs:
        if d["kind"] == "Pod":
            return d["metadata"].get("annotations") or {}
        if d["kind"] in ("DaemonSet", "Deployment", "StatefulSet"):
            return d["spec"]["template"]["metadata"].get(
                "annotations") or {}
    return {}


# ---------------------------------------------------------------- tests


@lab.timeout(1100)	# the first builds the image, unless one is there
def test_sidecar_resolves_cluster_and_external():
    """conf/kubernetes-sidecar.yaml: the app container's queries, through
    the pod's resolv.conf, reach the cluster DNS for cluster names and
    the DoH server for the rest, in encrypted-only mode."""
    run_manifest("kubernetes-sidecar.yaml")


@lab.timeout(1100)
def test_nodelocal_resolves_cluster_and_external():
    """conf/kubernetes-nodelocal.yaml: on the host network with the
    link-local address its initContainer adds, another pod's queries
    reach the cluster DNS for cluster names and the DoH server for the
    rest; its probes and the scrape answer on the node's address."""
    run_manifest("kubernetes-nodelocal.yaml")


if __name__ == "__main__":
    try:
        lab.main(globals())
    finally:
        C.cleanup()
