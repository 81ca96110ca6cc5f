// What each Envoy version lacks, and the Envoy, Istio and Envoy Gateway facts that make a valid
// config misbehave (versions.ts holds each fact with its source): `validate-envoy
// --envoy-version`, the generators' target version, the aggregate's retry cap, Envoy Gateway's
// ext_proc without retries, Istio 1.22 dropping route_cache_action, and the stats_tags bootstrap
// additions for Istio and Envoy Gateway.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { validateEnvoyCommand } from "../extproc/envoy-config/validate/command.js";
import { envoyFiles } from "../extproc/envoy-config/generate/index.js";
import { validateText } from "../extproc/envoy-config/validate/index.js";
import { EDGE, INGRESS, ROLES, policyFor, retryConcurrency } from "../extproc/envoy-config/generate/topology.js";
import { CURRENT_ENVOY, FEATURES, versionTable } from "../extproc/envoy-config/versions.js";
import { type Doc, HCM_PATH, envoyDirFiles, errors, hcm, load, validateChanged, warnings } from "./support/envoy-config.js";
import { root } from "./support/wasm.js";

const byKind = (docs: Doc[], kind: string) => docs.find((d) => d.kind === kind)!;
const WASM_CONFIG = `${HCM_PATH}.http_filters[0].typed_config.config`;

async function command(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await validateEnvoyCommand(args, (s) => (out += s), (s) => (err += s), async () => "");
  return { code, out, err };
}

describe("validate-envoy --envoy-version", () => {
  const files = () => envoyDirFiles().map((f) => join(root, f));

  it("1.31: reports, per file, the fields 1.31 does not know and what degrades there", async () => {
    const r = await command(["--envoy-version", "1.31", ...files()]);
    expect(r.code).toBe(1);
    const errorFiles = [...r.err.matchAll(/envoy\/(\S+?\.yaml):\d+:\d+: error: (\S+): (.*)/g)].map((m) => `${m[1]} ${m[2].slice(m[2].lastIndexOf(".") + 1)}: ${m[3]}`);
    expect(errorFiles).toEqual(["edge-hybrid", "edge-wasm", "ingress-hybrid", "ingress-wasm", "waypoint-hybrid", "waypoint-wasm"].map((f) =>
      `${f}.yaml failure_policy: unknown field "failure_policy" in Envoy 1.31: it is new in Envoy 1.33 (write fail_open: true instead)`));
    const degraded = [...r.out.matchAll(/envoy\/(\S+?\.yaml):\d+:\d+: warning: .*response_attributes\[4\]: Envoy 1\.31 has no upstream\.request_attempt_count/g)].map((m) => m[1]);
    expect(degraded).toEqual(["edge-extproc.yaml", "edge-hybrid.yaml", "ingress-extproc.yaml", "ingress-hybrid.yaml", "waypoint-extproc.yaml", "waypoint-hybrid.yaml"]);
  });

  it("1.33 and 1.36: the shipped files lack nothing", async () => {
    for (const v of ["1.33", "1.36", "v1.36-latest"]) {
      const r = await command(["--envoy-version", v, ...files()]);
      expect(r.err, v).toBe("");
      expect(r.out, v).toMatch(/validate-envoy: \d+ files, 0 errors, 0 warnings\n$/);
    }
  });

  it("a version that is not one is a usage error", async () => {
    const r = await command(["--envoy-version", "latest", join(root, "envoy/edge-wasm.yaml")]);
    expect(r).toEqual({ code: 2, out: "", err: 'validate-envoy: --envoy-version: expected an Envoy release such as 1.31, got "latest"\n' });
  });
});

describe("the Wasm failure setting follows the target Envoy", () => {
  it("the shipped files (Envoy 1.36) write failure_policy: FAIL_OPEN and no fail_open", () => {
    const [b] = load("envoy/ingress-wasm.yaml");
    const config = hcm(b).http_filters[0].typed_config.config;
    expect(config.failure_policy).toBe("FAIL_OPEN");
    expect(config.fail_open).toBeUndefined();
  });

  it("generated for Envoy 1.32 they write fail_open: true, which 1.32 accepts (only the missing attempt count is reported)", async () => {
    const files = await envoyFiles("1.32");
    for (const f of files.filter((x) => /envoy\/\w+-(wasm|hybrid)\.yaml$/.test(x.path))) {
      const [b] = parseAllDocuments(f.text).map((d) => d.toJS());
      expect(hcm(b).http_filters[0].typed_config.config.fail_open, f.path).toBe(true);
      const report = await validateText(f.text, join(root, f.path), { envoyVersion: "1.32" });
      expect(errors(report), f.path).toEqual([]);
      const expected = f.path.endsWith("-hybrid.yaml") ? [expect.stringMatching(/response_attributes\[4\]: Envoy 1\.32 has no upstream\.request_attempt_count/)] : [];
      expect(warnings(report), f.path).toEqual(expected);
      // The same file for current Envoy: fail_open is deprecated there.
      const current = await validateText(f.text, join(root, f.path), { envoyVersion: CURRENT_ENVOY });
      expect(warnings(current), f.path).toEqual([`${WASM_CONFIG}.fail_open: deprecated since Envoy 1.33: write failure_policy: FAIL_OPEN`]);
    }
  });

  it("setting both is an error", async () => {
    const report = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      hcm(b).http_filters[0].typed_config.config.fail_open = true;
    });
    expect(errors(report)).toEqual([`${WASM_CONFIG}.failure_policy: fail_open is set too: Envoy rejects a plugin that sets both (keep failure_policy)`]);
  });

  it("a failure_policy value Envoy does not have is an error", async () => {
    const report = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      hcm(b).http_filters[0].typed_config.config.failure_policy = "FAIL_SOMETIMES";
    });
    expect(errors(report)).toEqual([`${WASM_CONFIG}.failure_policy: "FAIL_SOMETIMES" is not a value of failure_policy (expected one of: FAIL_RELOAD, FAIL_CLOSED, FAIL_OPEN)`]);
  });
});

describe("a client's owned headers must be stripped before routing (validate-envoy)", () => {
  it("a bootstrap whose early mutation misses an owned header is rejected, naming it", async () => {
    const report = await validateChanged("envoy/ingress-extproc.yaml", ([b]) => {
      const m = hcm(b).early_header_mutation_extensions[0].typed_config.mutations;
      hcm(b).early_header_mutation_extensions[0].typed_config.mutations = m.filter((x: Doc) => x.remove !== "x-envoy-max-retries" && x.remove !== "x-failover-score");
    });
    expect(errors(report)).toEqual([
      `${HCM_PATH}.early_header_mutation_extensions: a client's x-envoy-max-retries, x-failover-score reach the router when no failover filter runs (a failed Wasm VM, a down sidecar): remove each in an early header mutation (envoy.http.early_header_mutation.header_mutation)`,
    ]);
  });
});

describe("retries across clusters: the aggregate's Envoy-side cap agrees with the policy's budget", () => {
  it("each aggregate has max_retries = the policy's budget at the role's design load, never below its minimum", () => {
    for (const role of ROLES) {
      const [b] = load(`envoy/${role.name}-wasm.yaml`);
      const policy = JSON.parse(hcm(b).http_filters[0].typed_config.config.configuration.value);
      const budget = policy.routes[0].retry.budget;
      expect(budget).toEqual(role.retry.budget);
      const expected = Math.max(budget.minRetries, Math.ceil((budget.percent / 100) * role.retry.designConcurrency));
      expect(retryConcurrency(role)).toBe(expected);
      const aggregates = b.static_resources.clusters.filter((c: Doc) => c.cluster_type?.name === "envoy.clusters.aggregate");
      expect(aggregates.length).toBe(role.upstreams.length);
      for (const a of aggregates) expect(a.circuit_breakers).toEqual({ thresholds: [{ priority: "DEFAULT", max_retries: expected }] });
    }
    expect(retryConcurrency(EDGE)).toBe(16); // what scenarios/000-edge-gateway.yaml models (envoy.maxRetries)
  });

  it("a retry_budget on an aggregate is flagged: it is a percentage of 0 there", async () => {
    const report = await validateChanged("envoy/edge-wasm.yaml", ([b]) => {
      b.static_resources.clusters[2].circuit_breakers.thresholds[0] = { priority: "DEFAULT", retry_budget: { budget_percent: { value: 25 }, min_retry_concurrency: 16 } };
    });
    expect(errors(report)).toEqual([]);
    expect(warnings(report)).toEqual([
      "static_resources.clusters[2].circuit_breakers.thresholds[0].retry_budget: on an aggregate cluster this is not a percentage: the aggregate counts no active requests, so only min_retry_concurrency applies; set max_retries (the failover filter enforces the policy's percentage budget itself)",
    ]);
  });
});

describe("Envoy Gateway's ext_proc and Istio's route_cache_action", () => {
  it("the EG ext_proc form ships a BackendTrafficPolicy retry from the role's policy, since EG's ext_proc drops x-envoy-* retry headers", () => {
    const btp = byKind(load("envoy/gateway/extproc.yaml"), "BackendTrafficPolicy");
    expect(btp.spec).toEqual({
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "user" }],
      retry: { numRetries: INGRESS.retry.numRetries, retryOn: { triggers: ["5xx"] }, perRetry: { timeout: `${INGRESS.retry.perTryTimeoutSeconds}s` } },
    });
    const policy = policyFor(INGRESS, { aggregates: false }) as Doc;
    expect(btp.spec.retry.numRetries).toBe(policy.routes[0].retry.numRetries);
  });

  it("without it, validate-envoy warns", async () => {
    const report = await validateChanged("envoy/gateway/extproc.yaml", (docs) => {
      docs.splice(docs.findIndex((d) => d.kind === "BackendTrafficPolicy"), 1);
    });
    expect(errors(report)).toEqual([]);
    expect(warnings(report)).toEqual([
      "EnvoyExtensionPolicy base/failover-ext-proc: spec.extProc: Envoy Gateway sets no ext_proc mutation_rules, so Envoy ignores the sidecar's x-envoy-* retry headers: add a BackendTrafficPolicy with retry for HTTPRoute user (see envoy/gateway/extproc.yaml), or use the Wasm form",
    ]);
  });

  it("an Istio EnvoyFilter's route_cache_action draws a warning for Istio 1.22 (Envoy 1.30)", async () => {
    const report = await validateChanged("envoy/istio/ingress-gateway-extproc.yaml", () => {}, { envoyVersion: "1.30" });
    expect(warnings(report)).toEqual([
      expect.stringMatching(/^EnvoyFilter istio-system\/failover-ext-proc: spec\.configPatches\[0\]\.patch\.value\.typed_config\.route_cache_action: Istio 1\.22 and older \(Envoy 1\.30\) drop this field silently: Istio 1\.22 drops it silently/),
    ]);
    expect(warnings(await validateChanged("envoy/istio/ingress-gateway-extproc.yaml", () => {}, { envoyVersion: "1.31" }))).toEqual([]);
  });
});

describe("Prometheus labels in Istio and Envoy Gateway: the bootstrap additions", () => {
  const standalone = () => load("envoy/edge-wasm.yaml")[0].stats_config.stats_tags;

  it("Istio's bootstrap override and Envoy Gateway's EnvoyProxy merge carry the standalone bootstraps' stats_tags", () => {
    for (const file of ["envoy/istio/bootstrap.yaml", "envoy/istio/waypoint.yaml"]) {
      const cm = load(file).find((d) => d.kind === "ConfigMap" && d.metadata.name === "failover-bootstrap")!;
      expect(JSON.parse(cm.data["custom_bootstrap.json"]), file).toEqual({ stats_config: { stats_tags: standalone() } });
    }
    const ep = byKind(load("envoy/gateway/envoyproxy.yaml"), "EnvoyProxy");
    expect(ep.spec.bootstrap.type).toBe("Merge");
    expect(parseAllDocuments(ep.spec.bootstrap.value)[0].toJS()).toEqual({ stats_config: { stats_tags: standalone() } });
  });

  it("the waypoint's Deployment overlay mounts that ConfigMap and points ISTIO_BOOTSTRAP_OVERRIDE at its file", () => {
    const docs = load("envoy/istio/waypoint.yaml");
    const params = docs.find((d) => d.kind === "ConfigMap" && d.metadata.name === "failover-waypoint")!;
    const overlay = parseAllDocuments(params.data.deployment)[0].toJS();
    const pod = overlay.spec.template.spec;
    const proxy = pod.containers[0];
    expect(proxy.name).toBe("istio-proxy");
    const mount = proxy.volumeMounts[0];
    expect(proxy.env).toEqual([{ name: "ISTIO_BOOTSTRAP_OVERRIDE", value: `${mount.mountPath}/custom_bootstrap.json` }]);
    expect(pod.volumes).toEqual([{ name: mount.name, configMap: { name: "failover-bootstrap" } }]);
  });

  it("their Envoy fragment is decoded strictly: a misspelled field or a regex that does not compile is an error", async () => {
    const report = await validateChanged("envoy/gateway/envoyproxy.yaml", ([ep]) => {
      ep.spec.bootstrap.value = "stats_config:\n  stats_tags:\n    - tag_name: failover_cluster\n      regex: \"(unclosed\"\n  stat_tags: []\n";
    });
    expect(errors(report)).toEqual([
      'EnvoyProxy default/failover: spec.bootstrap.value: stats_config.stat_tags: unknown field "stat_tags" in envoy.config.metrics.v3.StatsConfig (did you mean stats_tags?)',
      expect.stringMatching(/^EnvoyProxy default\/failover: spec\.bootstrap\.value: stats_config\.stats_tags\.0\.regex: does not compile: /),
    ]);
    const istio = await validateChanged("envoy/istio/bootstrap.yaml", ([cm]) => {
      cm.data["custom_bootstrap.json"] = JSON.stringify({ stats_config: { stats_tags: [{ tag_name: "x", regx: "y" }] } });
    });
    expect(errors(istio)).toEqual([
      'ConfigMap istio-system/failover-bootstrap: data["custom_bootstrap.json"]: stats_config.stats_tags.0.regx: unknown field "regx" in envoy.config.metrics.v3.TagSpecifier (did you mean regex?)',
    ]);
  });
});

describe("docs/running-with-envoy.md", () => {
  const doc = readFileSync(join(root, "docs/running-with-envoy.md"), "utf8");

  it("shows versions.ts's table, so docs and validator say the same", () => {
    expect(doc).toContain(versionTable());
    expect(FEATURES.length).toBeGreaterThan(8);
  });

  it("names the minimum and the full-accuracy Envoy, as the README does", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    for (const text of [doc, readme]) {
      expect(text).toMatch(/Envoy 1\.31/);
      expect(text).toMatch(/1\.33/);
    }
  });
});
