// The sidecar's /metrics against what Envoy shows for the same filter: names and labels as the
// shipped bootstraps' stats_tags produce them (Envoy's tag extraction replayed on the regexes read
// from envoy/*.yaml), every counter at 0 from the start, build info, Node's standard metric
// names, and `promtool check metrics` (Debian's prometheus package) clean on a live sidecar.
import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { VERSION } from "../extproc/version.js";
import { STATS_TAGS, type TagSpec, envoyPrometheusSeries } from "../extproc/sidecar/stats-tags.js";
import type { Sidecar } from "../extproc/sidecar/server.js";
import type { Headers } from "./support/extproc-client.js";
import { parseMetrics, sample } from "./support/prometheus-text.js";
import { sidecarHarness } from "./support/sidecar-harness.js";
import { run, tool } from "./support/tools.js";

// Istio's cluster names (pilot: outbound|<port>|<subset>|<host>) hold dots and pipes.
const ZONE1 = "outbound|7000|zone1|user.base.svc.cluster.local";
const ZONE2 = "outbound|7000||user.base.svc.cluster.local";
const policy = {
  clusters: [
    { name: ZONE1, region: "sh", zone: "z1", hosts: ["user.example.com"] },
    { name: ZONE2, region: "sh", zone: "z2", hosts: ["user.example.com"] },
  ],
  routes: [
    { name: "user", match: { authority: "user.example.com" }, destination: { mode: "auto" } },
    { name: "user-named", match: { authority: "*" }, destination: { mode: "named", clusters: [ZONE2] }, retry: { budget: { percent: 20, minRetries: 3 } } },
  ],
};
const request: Headers = [[":method", "GET"], [":path", "/"], [":authority", "user.example.com"], [":scheme", "http"]];
const start = sidecarHarness({ policy: JSON.stringify(policy), adminPort: 0, locality: { region: "sh", zone: "z1" } });
const metricsText = async (s: Sidecar) => (await fetch(`http://127.0.0.1:${s.adminPort}/metrics`)).text();

/**
 * The stats_tags of every shipped bootstrap: the Envoy bootstraps, Istio's bootstrap override
 * (ConfigMap custom_bootstrap.json) and Envoy Gateway's EnvoyProxy bootstrap merge.
 */
function shippedStatsTags(): { file: string; tags: TagSpec[] }[] {
  const boots = readdirSync("envoy").filter((f) => f.endsWith(".yaml")).map((f) => ({ file: f, tags: parse(readFileSync(`envoy/${f}`, "utf8"))?.stats_config?.stats_tags }));
  const docs = (f: string) => parseAllDocuments(readFileSync(f, "utf8")).map((d) => d.toJS()).filter(Boolean);
  for (const f of ["envoy/istio/bootstrap.yaml", "envoy/istio/waypoint.yaml"]) {
    for (const d of docs(f).filter((d: any) => d.kind === "ConfigMap" && d.data?.["custom_bootstrap.json"])) {
      boots.push({ file: `${f} ConfigMap ${d.metadata.name}`, tags: JSON.parse(d.data["custom_bootstrap.json"]).stats_config?.stats_tags });
    }
  }
  for (const d of docs("envoy/gateway/envoyproxy.yaml").filter((d: any) => d.kind === "EnvoyProxy")) {
    boots.push({ file: "envoy/gateway/envoyproxy.yaml", tags: parse(d.spec.bootstrap.value).stats_config?.stats_tags });
  }
  return boots.filter((b) => b.tags !== undefined);
}

describe("filter metrics as Envoy names them", () => {
  it("every bootstrap carries the sidecar's stats_tags", () => {
    const boots = shippedStatsTags();
    expect(boots.length).toBeGreaterThanOrEqual(11);
    expect(boots.some((b) => b.file.startsWith("envoy/istio/"))).toBe(true);
    expect(boots.some((b) => b.file.startsWith("envoy/gateway/"))).toBe(true);
    for (const b of boots) expect(b.tags, b.file).toEqual(STATS_TAGS);
  });

  it("labels Istio-style cluster names whole, as Envoy's tag regexes do (not greedy)", async () => {
    const { sidecar } = await start();
    const families = parseMetrics(await metricsText(sidecar));
    expect(sample(families, "failover_route_cluster_share_percent", { failover_route: "user", failover_cluster: ZONE1 })).toBe(100);
    expect(sample(families, "failover_route_cluster_share_percent", { failover_route: "user", failover_cluster: ZONE2 })).toBe(0);
    expect(sample(families, "failover_cluster_score", { failover_cluster: ZONE2 })).toBe(100);
    expect(sample(families, "failover_route_retry_budget_exhausted_total", { failover_route: "user-named" })).toBe(0);
    // The sidecar's old greedy split, for the record: what must not appear.
    expect(families.flatMap((f) => f.metrics).some((m) => m.labels?.failover_cluster === "local")).toBe(false);
  });

  it("shows every filter metric exactly as Envoy's tag extraction of the shipped regexes does", async () => {
    const { sidecar, client } = await start();
    await client().exchange(request, [[":status", "200"]]);
    const families = parseMetrics(await metricsText(sidecar));
    const names = sidecar.pool.metrics.all().map((m) => m.name);
    expect(names.length).toBe(2 * 9 + 2 + 3 + 2); // 9 per cluster, shares, 1 per route, 2 globals
    for (const { file, tags } of shippedStatsTags()) {
      for (const name of names) {
        const envoy = envoyPrometheusSeries(name, tags);
        expect(sample(families, envoy.name, envoy.labels), `${file}: ${name} -> ${envoy.name}${JSON.stringify(envoy.labels)}`).toBeDefined();
      }
    }
  });

  it("replays Envoy's extraction by hand on an Istio name (the algorithm of tag_producer_impl.cc)", () => {
    // Both regexes run on the full name; each removes its first group, the tag is the second.
    expect(envoyPrometheusSeries(`failover.route.user.cluster.${ZONE2}.share_percent`)).toEqual({
      name: "failover_route_cluster_share_percent", labels: { failover_cluster: ZONE2, failover_route: "user" },
    });
    expect(envoyPrometheusSeries(`failover.cluster.${ZONE1}.requests_total`)).toEqual({ name: "failover_cluster_requests_total", labels: { failover_cluster: ZONE1 } });
    expect(envoyPrometheusSeries("failover.decisions_total")).toEqual({ name: "failover_decisions_total", labels: {} });
  });
});

describe("series from the start", () => {
  it("has every labelled counter at 0 for every configured cluster and route before any traffic", async () => {
    const { sidecar } = await start();
    const families = parseMetrics(await metricsText(sidecar));
    for (const cluster of [ZONE1, ZONE2]) {
      for (const c of ["requests", "failures_5xx", "failures_gateway", "failures_local_origin", "ejections", "failovers", "probes"]) {
        expect(sample(families, `failover_cluster_${c}_total`, { failover_cluster: cluster }), `${c} ${cluster}`).toBe(0);
      }
    }
    for (const route of ["user", "user-named"]) expect(sample(families, "failover_route_retry_budget_exhausted_total", { failover_route: route })).toBe(0);
    expect(sample(families, "failover_no_route_total")).toBe(0);
  });

  it("counts on from 0 after traffic, and says what each filter metric counts", async () => {
    const { sidecar, client } = await start();
    await client().exchange(request, [[":status", "502"]]);
    const families = parseMetrics(await metricsText(sidecar));
    expect(sample(families, "failover_cluster_requests_total", { failover_cluster: ZONE1 })).toBe(1);
    expect(sample(families, "failover_cluster_failures_5xx_total", { failover_cluster: ZONE1 })).toBe(1);
    expect(sample(families, "failover_cluster_failures_gateway_total", { failover_cluster: ZONE1 })).toBe(1);
    for (const f of families.filter((f) => /^failover_(cluster|route|no_route|decisions)/.test(f.name))) expect(f.help, f.name).not.toMatch(/^filter metric/);
  });
});

describe("the sidecar's own metrics", () => {
  it("has failover_build_info and Node's default metrics under their standard names", async () => {
    const { sidecar } = await start();
    const families = parseMetrics(await metricsText(sidecar));
    expect(VERSION).toBe(JSON.parse(readFileSync("package.json", "utf8")).version);
    expect(sample(families, "failover_build_info", { version: VERSION })).toBe(1);
    for (const n of ["process_cpu_seconds_total", "process_resident_memory_bytes", "nodejs_heap_size_used_bytes", "nodejs_eventloop_lag_seconds"]) {
      expect(families.some((f) => f.name === n), n).toBe(true);
    }
    expect(families.some((f) => f.name.startsWith("failover_sidecar_process_"))).toBe(false);
  });

  it("passes `promtool check metrics` with no lint finding, after traffic", async () => {
    const promtool = tool("promtool", "prometheus");
    const { sidecar, client } = await start();
    const c = client();
    await c.exchange(request, [[":status", "200"]]);
    await c.exchange(request, [[":status", "503"]]);
    const r = run(promtool, ["check", "metrics"], await metricsText(sidecar));
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });
});
