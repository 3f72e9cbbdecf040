"""Checks deploy/Dockerfile and deploy/k8s/ against the built binary, since no container engine
or cluster runs here: what the image and the manifests ask of `magnesium-cds serve` (flags,
environment variables, ports, probe paths, shared libraries) is what the binary accepts and
needs. Python standard library, plus the machine's kubectl, dpkg and Node.js."""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.request

ARGS = None
ENV_PREFIX = "MAGNESIUM_CDS_"
# Packages every debian:12-slim image has (libc6, libgcc-s1: Essential; libstdc++6: apt's own
# dependency), so the runtime stage need not install them.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}
# Runtime packages that are no shared library of the binary, each with its reason.
NON_LIBRARY_PACKAGES = {"ca-certificates"}  # the trust store for HTTPS FHIR servers and JWKS URLs
OVERLAYS = ["dev", "production", "production-ingress"]


def serve_flags():
    """The long options of `serve`, from the `serve options:` section of --help."""
    text = subprocess.run([ARGS.binary, "--help"], capture_output=True, text=True, check=True).stdout
    section = text.split("serve options:", 1)[1].split("evaluate options:", 1)[0]
    return set(re.findall(r"^\s+--([a-z0-9-]+)", section, re.M))


def environment_name(flag):
    return ENV_PREFIX + flag.upper().replace("-", "_")


def print_config(args, env):
    """`serve --print-config` with exactly `env` as MAGNESIUM_CDS_* environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    clean.update(env)
    done = subprocess.run([ARGS.binary, "serve", *args, "--print-config"], capture_output=True, text=True,
                          env=clean, timeout=30)
    if done.returncode != 0:
        raise AssertionError("serve %s --print-config failed: %s" % (args, done.stderr))
    return json.loads(done.stdout)


def dockerfile_instructions():
    """(stage name, instruction, argument text) for each instruction, continuation lines joined."""
    with open(os.path.join(ARGS.repo, "deploy", "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stage = None
    result = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stage = rest.split()[-1] if " AS " in rest.upper() else rest
        result.append((stage, instruction, rest.strip()))
    return result


def runtime_packages_of(instructions):
    packages = set()
    for stage, instruction, rest in instructions:
        if stage == "runtime" and instruction == "RUN" and "apt-get install" in rest:
            words = rest.split("apt-get install", 1)[1].split("&&", 1)[0].split()
            packages |= {w for w in words if not w.startswith("-")}
    return packages


def package_of(path):
    """The Debian package owning a shared library, trying the /usr-merged spellings."""
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/"):
            candidates.append(p[len("/usr"):])
        else:
            candidates.append("/usr" + p)
    for candidate in candidates:
        done = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.split(":", 1)[0]
    raise AssertionError("no Debian package owns %s" % path)


def ldd_packages():
    text = subprocess.run(["ldd", ARGS.binary], capture_output=True, text=True, check=True).stdout
    paths = re.findall(r"=>\s+(/\S+)", text)
    return {package_of(p) for p in paths}


class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.instructions = dockerfile_instructions()
        cls.flags = serve_flags()

    def of(self, stage, instruction):
        return [rest for s, i, rest in self.instructions if s == stage and i == instruction]

    def json_array(self, stage, instruction):
        values = self.of(stage, instruction)
        self.assertEqual(len(values), 1, "one %s in the %s stage" % (instruction, stage))
        return json.loads(values[0])

    def test_build_stage_uses_the_repositorys_scripts(self):
        build = " && ".join(self.of("build", "RUN"))
        self.assertIn("deploy/install-deps.sh", build)
        self.assertTrue(os.access(os.path.join(ARGS.repo, "deploy", "install-deps.sh"), os.X_OK))
        self.assertRegex(build, r"cmake -S \. -B (\S+) .*cmake --build \1 .*cmake --install \1 --prefix /opt/magnesium-cds")
        self.assertNotIn("apt-get", build, "the build stage installs through deploy/install-deps.sh only")

    def test_runtime_stage_installs_exactly_the_binarys_libraries(self):
        if not ARGS.builds_like_the_image:
            self.skipTest("this binary is not built as the image builds it (GCC, no sanitizers)")
        froms = [rest for _, i, rest in self.instructions if i == "FROM"]
        self.assertEqual(froms[-1], "debian:12-slim AS runtime")
        needed = ldd_packages() - BASE_IMAGE_PACKAGES
        installed = runtime_packages_of(self.instructions) - NON_LIBRARY_PACKAGES
        self.assertEqual(installed, needed, "runtime apt packages vs. `ldd` of the binary mapped by dpkg -S")

    def test_non_root_healthcheck_labels_volume(self):
        user = self.of("runtime", "USER")
        self.assertEqual(len(user), 1)
        self.assertRegex(user[0], r"^[1-9][0-9]*:[1-9][0-9]*$", "a numeric non-root user for runAsNonRoot")
        self.assertEqual(len(self.of("runtime", "HEALTHCHECK")), 1)
        labels = " ".join(self.of("runtime", "LABEL"))
        for key in ["title", "description", "version", "licenses"]:
            self.assertIn("org.opencontainers.image.%s=" % key, labels)
        self.assertEqual(self.json_array("runtime", "VOLUME"), ["/var/lib/magnesium-cds"])

    def test_entrypoint_cmd_and_environment_are_ones_serve_accepts(self):
        entrypoint = self.json_array("runtime", "ENTRYPOINT")
        self.assertEqual(entrypoint, ["/opt/magnesium-cds/bin/magnesium-cds", "serve"])
        cmd = self.json_array("runtime", "CMD")
        for word in cmd:
            if word.startswith("--"):
                self.assertIn(word[2:].split("=", 1)[0], self.flags)
        env = {}
        for rest in self.of("runtime", "ENV"):
            for assignment in shlex.split(rest):
                name, _, value = assignment.partition("=")
                env[name] = value
        # The C library's allocator setting (README.md, "Memory allocator"), not a flag; the
        # serve script test checks it is the value deploy/serve.sh uses.
        self.assertTrue(env.pop("GLIBC_TUNABLES", "").startswith("glibc.malloc.tcache_count="))
        for name in env:
            self.assertIn(name, {environment_name(f) for f in self.flags})
        # The installed rule file the image points at is the repository's bundled one.
        rules = cmd[cmd.index("--rules") + 1]
        self.assertTrue(rules.startswith("/opt/magnesium-cds/share/magnesium-cds/rules/"))
        repo_rules = os.path.join(ARGS.repo, "rules", "config", os.path.basename(rules))
        self.assertTrue(os.path.isfile(repo_rules), repo_rules)
        # The binary takes the image's configuration (values parsed, not only names).
        config = print_config(["--rules", repo_rules], env)
        for name, value in env.items():
            flag = name[len(ENV_PREFIX):].lower().replace("_", "-")
            self.assertEqual((config[flag]["source"], config[flag]["value"]), ("env", value))

    def test_healthcheck_port_is_the_listen_port(self):
        env = " ".join(self.of("runtime", "ENV"))
        port = re.search(r"MAGNESIUM_CDS_LISTEN=\S+:(\d+)", env).group(1)
        self.assertIn("127.0.0.1:%s" % port, self.of("runtime", "HEALTHCHECK")[0])
        self.assertIn(port, " ".join(self.of("runtime", "EXPOSE")).split())


def kubectl_programs():
    programs = [shutil.which("kubectl")]
    if os.environ.get("CDS_LEGACY_KUBECTL"):
        programs.append(os.environ["CDS_LEGACY_KUBECTL"])  # e.g. Debian 12's kubectl 1.20
    if programs[0] is None:
        raise AssertionError("no kubectl: install Debian's kubernetes-client (deploy/install-deps.sh --test)")
    return programs


def render(kubectl, overlay):
    done = subprocess.run([kubectl, "kustomize", os.path.join(ARGS.repo, "deploy", "k8s", "overlays", overlay)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError("%s kustomize %s: %s" % (kubectl, overlay, done.stderr))
    return done.stdout


def rendered_objects(text):
    """The rendered YAML as objects, converted by the same YAML library that validates them."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        done = subprocess.run([ARGS.node, os.path.join(ARGS.repo, "tests", "deploy", "validate_manifests.mjs"),
                               "--json", f.name], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError("could not read the rendered objects (node_modules missing? run `npm ci` in "
                             "tests/deploy): " + done.stderr)
    return json.loads(done.stdout)


class KubernetesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.flags = serve_flags()
        cls.rendered = {o: render(shutil.which("kubectl") or "kubectl", o) for o in OVERLAYS}
        cls.objects = {o: rendered_objects(text) for o, text in cls.rendered.items()}

    def kind(self, overlay, kind):
        return [o for o in self.objects[overlay] if o["kind"] == kind]

    def container(self, overlay):
        (deployment,) = self.kind(overlay, "Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        return deployment, container

    def test_every_overlay_renders_with_every_kubectl(self):
        for kubectl in kubectl_programs():
            for overlay in OVERLAYS:
                self.assertIn("kind: Deployment", render(kubectl, overlay))

    def test_every_object_validates_against_the_kubernetes_schemas(self):
        with tempfile.TemporaryDirectory() as directory:
            files = []
            for overlay, text in self.rendered.items():
                files.append(os.path.join(directory, overlay + ".yaml"))
                with open(files[-1], "w") as f:
                    f.write(text)
            done = subprocess.run([ARGS.node, os.path.join(ARGS.repo, "tests", "deploy", "validate_manifests.mjs"),
                                   *files], capture_output=True, text=True, timeout=300)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr +
                         "\n(node_modules missing? run `npm ci` in tests/deploy)")
        self.assertGreaterEqual(done.stdout.count(": valid"), 17)

    def test_env_names_values_ports_and_probes_are_ones_the_binary_accepts(self):
        for overlay in OVERLAYS:
            deployment, container = self.container(overlay)
            configmaps = {c["metadata"]["name"]: c.get("data", {}) for c in self.kind(overlay, "ConfigMap")}
            env = {}
            for entry in container.get("env", []):
                name = entry["name"]
                self.assertIn(name, {environment_name(f) for f in self.flags}, overlay)
                if "value" in entry:
                    env[name] = entry["value"]
                elif "configMapKeyRef" in entry["valueFrom"]:
                    ref = entry["valueFrom"]["configMapKeyRef"]
                    env[name] = configmaps[ref["name"]][ref["key"]]
            for word in container.get("args", []) + container.get("command", []):
                if word.startswith("--"):
                    self.assertIn(word[2:].split("=", 1)[0], self.flags, overlay)
            config = print_config([], env)
            for name, value in env.items():
                flag = name[len(ENV_PREFIX):].lower().replace("_", "-")
                self.assertEqual(config[flag]["source"], "env", (overlay, name))
            port = int(env["MAGNESIUM_CDS_LISTEN"].rsplit(":", 1)[1])
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            self.assertEqual(list(ports.values()), [port], overlay)
            for probe, path in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
                get = container[probe]["httpGet"]
                self.assertEqual(get["path"], path)
                self.assertEqual(ports[get["port"]], port)
                self.assertEqual(get.get("scheme", "HTTP"), "HTTPS" if "MAGNESIUM_CDS_TLS_CERT" in env else "HTTP")
            mounted = {m["mountPath"] for m in container["volumeMounts"]}
            self.assertIn("/var/lib/magnesium-cds", mounted)
            if "MAGNESIUM_CDS_RULES" in env:
                self.assertIn(os.path.dirname(env["MAGNESIUM_CDS_RULES"]), mounted)

    def test_probe_paths_answer_200_from_the_binary(self):
        server = subprocess.Popen([ARGS.binary, "serve", "--listen", "127.0.0.1:0", "--threads", "1"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            port = re.match(r"listening on http://127\.0\.0\.1:(\d+)", server.stdout.readline()).group(1)
            _, container = self.container("production")
            for probe in ["readinessProbe", "livenessProbe"]:
                path = container[probe]["httpGet"]["path"]
                with urllib.request.urlopen("http://127.0.0.1:%s%s" % (port, path), timeout=10) as response:
                    self.assertEqual(response.status, 200, path)
        finally:
            server.terminate()
            server.wait(timeout=30)
            server.stdout.close()

    def test_production_is_locked_down_and_scaled(self):
        deployment, container = self.container("production")
        pod = deployment["spec"]["template"]["spec"]
        self.assertGreaterEqual(deployment["spec"]["replicas"], 2)
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertEqual(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")
        security = container["securityContext"]
        self.assertTrue(security["readOnlyRootFilesystem"])
        self.assertFalse(security["allowPrivilegeEscalation"])
        self.assertEqual(security["capabilities"]["drop"], ["ALL"])
        self.assertIn("limits", container["resources"])
        self.assertIn("requests", container["resources"])
        (hpa,) = self.kind("production", "HorizontalPodAutoscaler")
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["name"], deployment["metadata"]["name"])
        self.assertGreaterEqual(hpa["spec"]["minReplicas"], 2)
        (pdb,) = self.kind("production", "PodDisruptionBudget")
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"].items()
        self.assertLessEqual(pdb["spec"]["selector"]["matchLabels"].items(), pod_labels)
        secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        self.assertEqual(secrets, {"magnesium-cds-tls", "magnesium-cds-trust", "magnesium-cds-feedback-db"})
        # The replicas share a PostgreSQL store: its URL from the Secret (required, so a pod
        # never starts with a store of its own), its password as a file from the same Secret.
        env = {e["name"]: e for e in container["env"]}
        url = env["MAGNESIUM_CDS_FEEDBACK_DB"]["valueFrom"]["secretKeyRef"]
        self.assertEqual((url["name"], url["key"]), ("magnesium-cds-feedback-db", "url"))
        self.assertFalse(url.get("optional", False))
        password_file = env["MAGNESIUM_CDS_FEEDBACK_DB_PASSWORD_FILE"]["value"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        (db_volume,) = [v for v in pod["volumes"] if v.get("secret", {}).get("secretName") == "magnesium-cds-feedback-db"]
        self.assertEqual(password_file, mounts[db_volume["name"]] + "/password")
        self.assertEqual(len(self.kind("production-ingress", "Ingress")), 1)
        self.assertEqual(len(self.kind("production", "Ingress")), 0)

    def test_dev_is_one_replica_with_sqlite_on_a_claim(self):
        deployment, container = self.container("dev")
        self.assertEqual(deployment["spec"]["replicas"], 1)
        (claim,) = self.kind("dev", "PersistentVolumeClaim")
        state = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "state"]
        self.assertEqual(state[0]["persistentVolumeClaim"]["claimName"], claim["metadata"]["name"])
        self.assertNotIn("emptyDir", state[0])
        db = {e["name"]: e.get("value") for e in container["env"]}["MAGNESIUM_CDS_FEEDBACK_DB"]
        self.assertTrue(db.startswith("/var/lib/magnesium-cds/"))

    def test_the_rules_configmap_is_a_valid_rule_set(self):
        path = os.path.join(ARGS.repo, "deploy", "k8s", "base", "magnesium-rules.json")
        done = subprocess.run([ARGS.binary, "check-rules", path], capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        # The ConfigMap is generated from this copy (Kustomize reads no file outside its root); it
        # must be the bundled rule set itself, or the cluster would run other rules than the binary.
        bundled = os.path.join(ARGS.repo, "rules", "config", "magnesium-rules.json")
        with open(path, "rb") as copy, open(bundled, "rb") as original:
            self.assertEqual(copy.read(), original.read(),
                             "deploy/k8s/base/magnesium-rules.json differs from rules/config/magnesium-rules.json")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--node", default="node")
    parser.add_argument("--builds-like-the-image", action="store_true",
                        help="the binary is a GCC build without sanitizers, as in the image")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], "-v", *rest])
