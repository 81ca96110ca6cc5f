// The strict decoder with Envoy's protos (protobuf's JSON mapping, as Envoy reads a bootstrap),
// the validation rules the protos declare, the stats tags of the generated bootstraps, and the
// validate-envoy command.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { validateEnvoyCommand } from "../extproc/envoy-config/validate/command.js";
import { Decoder } from "../extproc/envoy-config/validate/decode.js";
import { Issues, describeIssue } from "../extproc/envoy-config/validate/issues.js";
import { envoyTypes, messageType } from "../extproc/envoy-config/protos.js";
import { validateText } from "../extproc/envoy-config/validate/index.js";
import { PluginVm } from "../extproc/host/index.js";
import { type Doc, errors, hcm, load, validateChanged, warnings } from "./support/envoy-config.js";
import { FAILOVER_WASM, compiled, root } from "./support/wasm.js";

/** Decodes `value` as the named Envoy type; returns the issues as `path: message` lines. */
function decode(type: string, value: unknown): string[] {
  const issues = new Issues();
  new Decoder(envoyTypes().root, issues).decode(messageType(type)!, value, []);
  return issues.list.map((i) => `${i.severity}: ${describeIssue(i)}`);
}

const CLUSTER = "envoy.config.cluster.v3.Cluster";
const cluster = (extra: Doc = {}) => ({ name: "c", connect_timeout: "1s", ...extra });

describe("Envoy's protos", () => {
  it("are loaded from @grpc/grpc-js-xds: every v3 file whose imports ship, and the few that do not are named", () => {
    const types = envoyTypes();
    expect(types.files).toBeGreaterThan(300);
    expect(types.skipped.every((f) => /opencensus|open_telemetry|metrics_service|trace/.test(f))).toBe(true);
    expect(messageType("envoy.config.bootstrap.v3.Bootstrap")).toBeDefined();
    expect(messageType("envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor")).toBeDefined();
    expect(messageType("envoy.api.v2.Cluster")).toBeUndefined();
  });
});

describe("the strict decoder", () => {
  it("takes snake_case and lowerCamelCase names alike", () => {
    expect(decode(CLUSTER, { name: "c", connectTimeout: "1s", lbPolicy: "ROUND_ROBIN", dns_lookup_family: "V4_ONLY" })).toEqual([]);
  });

  it("rejects a field written in both namings", () => {
    expect(decode(CLUSTER, cluster({ connectTimeout: "2s" }))).toEqual(['error: connectTimeout: field connect_timeout is already set (as "connect_timeout")']);
  });

  it("rejects a string where a message belongs, and a message where a string belongs", () => {
    expect(decode("envoy.config.core.v3.Address", { socket_address: "10.0.0.1:80" })).toEqual([
      "error: socket_address: expected an object (envoy.config.core.v3.SocketAddress), got a string",
    ]);
    expect(decode(CLUSTER, cluster({ alt_stat_name: { a: 1 } }))).toEqual(["error: alt_stat_name: expected a string, got an object"]);
  });

  it("rejects numbers out of range and fractions for integers; takes quoted integers as protobuf does", () => {
    expect(decode(CLUSTER, cluster({ per_connection_buffer_limit_bytes: 4294967296 }))).toEqual([
      "error: per_connection_buffer_limit_bytes: 4294967296 is out of range for uint32 (0..4294967295)",
    ]);
    expect(decode(CLUSTER, cluster({ per_connection_buffer_limit_bytes: 1.5 }))).toEqual(["error: per_connection_buffer_limit_bytes: expected an integer (uint32), got a number 1.5"]);
    expect(decode(CLUSTER, cluster({ per_connection_buffer_limit_bytes: "32768" }))).toEqual([]);
  });

  it("rejects an enum name the enum does not have, and takes its numbers", () => {
    expect(decode(CLUSTER, cluster({ lb_policy: "ROUND_ROBN" }))).toEqual([
      'error: lb_policy: "ROUND_ROBN" is not a value of enum envoy.config.cluster.v3.Cluster.LbPolicy (expected one of: ROUND_ROBIN, LEAST_REQUEST, RING_HASH, RANDOM, MAGLEV, CLUSTER_PROVIDED, LOAD_BALANCING_POLICY_CONFIG)',
    ]);
    expect(decode(CLUSTER, cluster({ lb_policy: 6 }))).toEqual([]);
    // Envoy parses enums case-insensitively (its examples write round_robin).
    expect(decode(CLUSTER, cluster({ lb_policy: "round_robin" }))).toEqual([]);
  });

  it("takes durations as protobuf writes them: seconds with an s", () => {
    expect(decode(CLUSTER, cluster({ connect_timeout: "0.25s" }))).toEqual([]);
    for (const bad of ["1m", "250ms", "1", 1]) {
      expect(decode(CLUSTER, cluster({ connect_timeout: bad }))[0]).toMatch(/^error: connect_timeout: expected a duration such as "1s" or "0.2s"/);
    }
  });

  it("rejects two members of one oneof", () => {
    expect(decode("envoy.config.route.v3.RouteAction", { cluster: "a", cluster_header: "x-c" })).toEqual([
      expect.stringMatching(/^error: cluster_header: only one of cluster, cluster_header, .* may be set \(oneof cluster_specifier\); "cluster" is set too$/),
    ]);
  });

  it("applies the validation rules of the protos: required messages, oneofs and lengths", () => {
    expect(decode("envoy.config.core.v3.HealthCheck", { timeout: "1s", interval: "5s", http_health_check: { path: "/" } })).toEqual([
      "error: unhealthy_threshold: required",
      "error: healthy_threshold: required",
    ]);
    expect(decode("envoy.config.route.v3.RouteAction", {})).toEqual([expect.stringMatching(/^error: \(document\): one of cluster, cluster_header, .* is required$/)]);
    expect(decode(CLUSTER, { connect_timeout: "1s" })).toEqual(['error: name: breaks Envoy\'s validation rule string.min_len = 1 (got "")']);
    expect(decode(CLUSTER, cluster({ outlier_detection: { max_ejection_percent: 101 } }))).toEqual([
      "error: outlier_detection.max_ejection_percent: breaks Envoy's validation rule uint32.lte = 100 (got 101)",
    ]);
  });

  it("checks enum rules by number and boolean constants", () => {
    expect(decode("envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher", { san_type: "SAN_TYPE_UNSPECIFIED", matcher: { exact: "a" } })).toEqual([
      "error: san_type: breaks Envoy's validation rule enum.not_in = [0] (got 0)",
    ]);
    expect(decode("envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute", { disabled: false })).toEqual([
      "error: disabled: breaks Envoy's validation rule bool.const = true (got false)",
    ]);
  });

  it("checks an Any's body against the type its @type names, and a wrapped value under value", () => {
    const filter = (config: Doc) => ({ name: "f", typed_config: config });
    const HF = "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter";
    expect(decode(HF, filter({ "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", suppress_envoy_headers: "yes" }))).toEqual([
      "error: typed_config.suppress_envoy_headers: expected true or false, got a string",
    ]);
    expect(decode(HF, filter({ suppress_envoy_headers: true }))).toEqual(['error: typed_config: an Any needs "@type": "type.googleapis.com/<full type name>"']);
    expect(decode(HF, filter({ "@type": "envoy.extensions.filters.http.router.v3.Router" }))).toEqual([
      'error: typed_config.@type: a type URL must start with "type.googleapis.com/", got "envoy.extensions.filters.http.router.v3.Router"',
    ]);
    expect(decode("google.protobuf.Any", { "@type": "type.googleapis.com/google.protobuf.StringValue", value: "x", extra: 1 })).toEqual([
      'error: extra: unknown field "extra": an Any of google.protobuf.StringValue holds its value under "value"',
    ]);
  });

  it("warns about fields Envoy's API deprecates", () => {
    expect(decode(CLUSTER, cluster({ http2_protocol_options: {} }))).toEqual(["warning: http2_protocol_options: deprecated in Envoy's API (since API 3.0)"]);
  });
});

describe("reading a file as Envoy reads it", () => {
  it("takes yes/no/on/off as booleans, as yaml-cpp does, so a string field rejects them unquoted", async () => {
    const text = readFileSync(join(root, "envoy/edge-wasm.yaml"), "utf8").replace("    region: region-1\n", "    region: region-1\n    zone: on\n");
    const report = await validateText(text, join(root, "envoy/edge-wasm.yaml"));
    expect(errors(report)).toEqual(["node.locality.zone: expected a string, got a boolean (true; quote it)"]);
  });

  it("rejects an unquoted number for a string", async () => {
    const report = await validateChanged("envoy/ingress-wasm.yaml", ([b]) => {
      b.node.locality.zone = 2000400001;
    });
    expect(errors(report)).toEqual(["node.locality.zone: expected a string, got a number (2000400001; quote it)"]);
  });

  it("points each finding at its line and column", async () => {
    const text = readFileSync(join(root, "envoy/edge-wasm.yaml"), "utf8").replace("      connect_timeout: 1s\n", "      connect_timeout: 1s\n      conect_timeout: 1s\n");
    const line = text.split("\n").findIndex((l) => l.includes("conect_timeout")) + 1;
    const report = await validateText(text, join(root, "envoy/edge-wasm.yaml"));
    expect(report.findings.map((f) => f.where)).toEqual([`${line}:7`]);
  });

  it("reads JSON as well as YAML", async () => {
    const bootstrap = load("envoy/edge-extproc.yaml")[0];
    const report = await validateText(JSON.stringify(bootstrap), join(root, "envoy/edge-extproc.json"));
    expect(report.kind).toBe("Envoy bootstrap");
    expect(report.findings).toEqual([]);
  });

  it("says where a file does not parse, and what it is not", async () => {
    expect((await validateText("a: [1,\n", "x.yaml")).findings).toEqual([
      { severity: "error", where: "2:1", path: "(file)", message: "Flow sequence in block collection must be sufficiently indented and end with a ]" },
    ]);
    expect(errors(await validateText("node: {}\nnode: {}\n", "x.yaml"))).toEqual(["(file): Map keys must be unique"]);
    expect(errors(await validateText("hello: world\n", "x.yaml"))).toEqual(["(file): not an Envoy bootstrap, Kubernetes resources or a failover policy"]);
  });

  it("a policy file's problems point into the file, in the module's words", async () => {
    const report = await validateChanged("envoy/policies/ingress.yaml", ([p]) => {
      p.routes[0].retry.retryOn = "5xx,sometimes";
    });
    // The module's own words, after the path it names (which the line number follows).
    expect(errors(report)).toEqual([expect.stringMatching(/^routes\[0\]\.retry\.retryOn: the failover module rejects the policy: failover: policy: routes\[0\]\.retry\.retryOn: .*"sometimes"/)]);
    expect(report.findings[0].where).not.toBe("1:1");
  });
});

describe("stats tags of the bootstraps", () => {
  /** Envoy's tag extraction: each regex's first group is cut from the name, its innermost group is the value. */
  function tagged(name: string, tags: { tag_name: string; regex: string }[]) {
    const cut: [number, number][] = [];
    const values: Record<string, string> = {};
    for (const t of tags) {
      const m = new RegExp(t.regex, "d").exec(name);
      if (!m) continue;
      values[t.tag_name] = m[2] ?? m[1];
      cut.push(m.indices![1]);
    }
    const rest = [...name].filter((_, i) => !cut.some(([a, b]) => i >= a && i < b)).join("");
    // Prometheus: Envoy drops the custom stat namespace and turns other characters into _.
    return { name: rest.replace(/^wasmcustom\./, "").replace(/[^a-zA-Z0-9_:]/g, "_"), tags: values };
  }

  it("turn every metric the module defines into one Prometheus name with cluster and route tags", () => {
    const tags = load("envoy/edge-wasm.yaml")[0].stats_config.stats_tags;
    const policy = JSON.parse(hcm(load("envoy/edge-wasm.yaml")[0]).http_filters[0].typed_config.config.configuration.value);
    const vm = new PluginVm(compiled(FAILOVER_WASM), { pluginConfig: JSON.stringify(policy), logger: () => {} }).start();
    const series = vm.metrics.all().map((m) => tagged(`wasmcustom.${m.name}`, tags));
    const byName = (n: string) => series.filter((s) => s.name === n).map((s) => s.tags);
    expect(byName("failover_cluster_requests_total")).toEqual([{ failover_cluster: "cluster-1" }, { failover_cluster: "cluster-2" }]);
    expect(byName("failover_cluster_score")).toHaveLength(2);
    expect(byName("failover_route_cluster_share_percent")).toEqual([
      { failover_cluster: "cluster-1", failover_route: "bookinfo" },
      { failover_cluster: "cluster-2", failover_route: "bookinfo" },
    ]);
    expect(byName("failover_route_retry_budget_exhausted_total")).toEqual([{ failover_route: "bookinfo" }]);
    expect(byName("failover_decisions_total")).toEqual([{}]);
    // Every series is a cluster series, a route series or one of the filter's own totals.
    expect(series.every((s) => /^failover_(cluster_|route_|no_route_total$|decisions_total$)/.test(s.name))).toBe(true);
  });

  it("keep a cluster name with dots whole", () => {
    const tags = load("envoy/ingress-wasm.yaml")[0].stats_config.stats_tags;
    expect(tagged("wasmcustom.failover.cluster.outbound|7000|zone1|user.base.svc.cluster.local.ejections_total", tags)).toEqual({
      name: "failover_cluster_ejections_total",
      tags: { failover_cluster: "outbound|7000|zone1|user.base.svc.cluster.local" },
    });
  });
});

describe("failover validate-envoy", () => {
  async function run(files: string[]) {
    let out = "";
    let err = "";
    const code = await validateEnvoyCommand(files, (s) => (out += s), (s) => (err += s));
    return { code, out, err };
  }

  it("exits 0 and says ok for valid files", async () => {
    const r = await run([join(root, "envoy/waypoint-hybrid.yaml"), join(root, "envoy/kubernetes/sidecar.yaml")]);
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(r.out).toContain("waypoint-hybrid.yaml: ok (Envoy bootstrap; 2 policies accepted by the failover module)");
    expect(r.out).toContain("sidecar.yaml: ok (Kubernetes resources; 1 policy accepted by the failover module)");
    expect(r.out).toMatch(/validate-envoy: 2 files, 0 errors, 0 warnings\n$/);
  });

  it("exits 1 and names file, line, path and problem for an invalid one", async () => {
    const r = await run([join(root, "envoy/edge-wasm.yaml"), join(root, "envoy/no-such-file.yaml")]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no-such-file\.yaml:1:1: error: \(file\): cannot read: ENOENT\n/);
    expect(r.out).toMatch(/validate-envoy: 2 files, 1 error, 0 warnings\n$/);
  });

  it("exits 1 without files", async () => {
    expect((await run([])).code).toBe(1);
  });

  it("reports warnings without failing", async () => {
    const text = readFileSync(join(root, "envoy/edge-wasm.yaml"), "utf8").replace("vm_id: failover", 'vm_id: ""');
    const report = await validateText(text, join(root, "envoy/edge-wasm.yaml"));
    expect(errors(report)).toEqual([]);
    expect(warnings(report)).toHaveLength(1);
  });

  it("decodes parse() of the committed files to what the generator wrote", () => {
    // The committed YAML is plain data (no anchors or tags): any YAML reader sees the same.
    expect(parse(readFileSync(join(root, "envoy/edge-hybrid.yaml"), "utf8"))).toEqual(load("envoy/edge-hybrid.yaml")[0]);
  });
});
