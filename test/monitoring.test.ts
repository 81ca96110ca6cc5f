// The alert rules (promtool check + unit tests, Debian's prometheus package), the PrometheusRule
// resource, and the Grafana dashboard: every metric and label a rule or a panel reads exists in a
// live sidecar's /metrics and, for the filter's metrics, in the names Envoy's stats_tags produce.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { envoyPrometheusSeries } from "../extproc/sidecar/stats-tags.js";
import type { Headers } from "./support/extproc-client.js";
import { sampleLabels } from "./support/prometheus-text.js";
import { grafanaToPromql, promqlUses } from "./support/promql.js";
import { sidecarHarness } from "./support/sidecar-harness.js";
import { run, tool } from "./support/tools.js";

const RULES = "monitoring/alerts.rules.yaml";
const rules = parse(readFileSync(RULES, "utf8"));
const dashboard = JSON.parse(readFileSync("monitoring/grafana-dashboard.json", "utf8"));
/** Labels Prometheus adds when it scrapes (not in any exposition). */
const SCRAPE_LABELS = new Set(["job", "instance"]);
/** The filter's metrics: Envoy exports them too, under the stats_tags names. */
const isFilterMetric = (m: string) => /^failover_(cluster|route|no_route|decisions)_/.test(m);

const ruleExprs = (): { name: string; expr: string }[] => rules.groups.flatMap((g: any) => g.rules.map((r: any) => ({ name: r.alert ?? r.record, expr: r.expr })));
const panelExprs = (): { name: string; expr: string }[] =>
  dashboard.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => ({ name: `${p.title} ${t.refId}`, expr: grafanaToPromql(t.expr) })));

const policy = {
  clusters: [
    { name: "cluster-1", region: "r1", hosts: ["app.example.com"] },
    { name: "cluster-2", region: "r2", hosts: ["app.example.com"] },
  ],
  routes: [{ name: "app", match: { authority: "app.example.com" }, destination: { mode: "auto" }, retry: { budget: { percent: 20, minRetries: 3 } } }],
};
const start = sidecarHarness({ policy: JSON.stringify(policy), adminPort: 0, locality: { region: "r1" } });
const request: Headers = [[":method", "GET"], [":path", "/"], [":authority", "app.example.com"], [":scheme", "http"]];

/** A live sidecar's series (after one request) and the filter's series as Envoy shows them. */
async function liveSeries() {
  const { sidecar, client } = await start({ policyFile: "/dev/null", readPolicy: () => "{not json" });
  await client().exchange(request, [[":status", "200"]]);
  sidecar.reload(); // refused: failover_sidecar_policy_reloads_total{result="rejected"}
  const text = await (await fetch(`http://127.0.0.1:${sidecar.adminPort}/metrics`)).text();
  const envoy = new Map<string, Set<string>>();
  const bootstrap = parse(readFileSync("envoy/edge-wasm.yaml", "utf8"));
  for (const m of sidecar.pool.metrics.all()) {
    const s = envoyPrometheusSeries(m.name, bootstrap.stats_config.stats_tags);
    envoy.set(s.name, new Set([...(envoy.get(s.name) ?? []), ...Object.keys(s.labels)]));
  }
  return { sidecar: sampleLabels(text), envoy };
}

/** Problems of one expression against the series an exposition has. */
function missing(expr: string, series: Map<string, Set<string>>, only: (m: string) => boolean = () => true): string[] {
  const uses = promqlUses(expr);
  const problems: string[] = [];
  for (const metric of uses.metrics.filter(only)) {
    const labels = series.get(metric);
    if (!labels) {
      problems.push(`no metric ${metric}`);
      continue;
    }
    for (const l of uses.labels) if (!SCRAPE_LABELS.has(l) && !labels.has(l)) problems.push(`${metric} has no label ${l}`);
  }
  return problems;
}

describe("alert rules", () => {
  it("pass `promtool check rules` and their `promtool test rules` unit tests", () => {
    const promtool = tool("promtool", "prometheus");
    const check = run(promtool, ["check", "rules", RULES]);
    expect(check.stdout + check.stderr).toContain("SUCCESS: 6 rules found");
    expect(check.code).toBe(0);
    const test = run(promtool, ["test", "rules", "monitoring/alerts.test.yaml"]);
    expect(test.stdout + test.stderr).toContain("SUCCESS");
    expect(test.code).toBe(0);
  });

  it("have a unit test that fires each alert, and the seed 004 set", () => {
    const tests = parse(readFileSync("monitoring/alerts.test.yaml", "utf8")).tests;
    const fired = new Set(tests.flatMap((t: any) => t.alert_rule_test.filter((a: any) => a.exp_alerts.length > 0).map((a: any) => a.alertname)));
    expect([...fired].sort()).toEqual(ruleExprs().map((r) => r.name).sort());
    expect(ruleExprs().map((r) => r.name)).toEqual([
      "FailoverClusterEjected", "FailoverClusterStillEjected", "FailoverClusterScoreLow",
      "FailoverTrafficFailingOver", "FailoverPolicyReloadFailed", "FailoverSidecarRefusingStreams",
    ]);
  });

  it("the promtool unit tests catch a broken rule (a threshold off by one)", () => {
    const promtool = tool("promtool", "prometheus");
    const dir = mkdtempSync(join(tmpdir(), "failover-rules-"));
    try {
      writeFileSync(join(dir, "alerts.rules.yaml"), readFileSync(RULES, "utf8").replace("failover_cluster_score < 50", "failover_cluster_score < 30"));
      copyFileSync("monitoring/alerts.test.yaml", join(dir, "alerts.test.yaml"));
      const r = run(promtool, ["test", "rules", join(dir, "alerts.test.yaml")]);
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toContain("FailoverClusterScoreLow");
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it("the PrometheusRule resource holds exactly the rules file's groups", () => {
    const resource = parse(readFileSync("monitoring/prometheus-rule.yaml", "utf8"));
    expect(resource.apiVersion).toBe("monitoring.coreos.com/v1");
    expect(resource.kind).toBe("PrometheusRule");
    expect(resource.spec.groups).toEqual(rules.groups);
  });
});

describe("every metric and label the rules and the dashboard read exists", () => {
  it("in a live sidecar's /metrics", async () => {
    const { sidecar } = await liveSeries();
    const problems = [...ruleExprs(), ...panelExprs()].flatMap((q) => missing(q.expr, sidecar).map((p) => `${q.name}: ${p}`));
    expect(problems).toEqual([]);
  });

  it("in Envoy's /stats/prometheus names for the filter's metrics (the bootstraps' stats_tags)", async () => {
    const { envoy } = await liveSeries();
    const queries = [...ruleExprs(), ...panelExprs()];
    expect(queries.filter((q) => promqlUses(q.expr).metrics.some(isFilterMetric)).length).toBeGreaterThan(10);
    const problems = queries.flatMap((q) => missing(q.expr, envoy, isFilterMetric).map((p) => `${q.name}: ${p}`));
    expect(problems).toEqual([]);
  });

  it("catches a misspelled metric or label (the check can fail)", async () => {
    const { sidecar } = await liveSeries();
    expect(missing("rate(failover_cluster_ejection_total[5m])", sidecar)).toEqual(["no metric failover_cluster_ejection_total"]);
    expect(missing("sum by (cluster) (failover_cluster_score)", sidecar)).toEqual(["failover_cluster_score has no label cluster"]);
  });

  it("the dashboard has the panels the operator needs", () => {
    const titles = dashboard.panels.map((p: any) => p.title);
    for (const t of ["Health score", "Share of requests", "Ejections", "Failovers", "Probes", "Split per route", "Decision latency", "Streams and refusals"]) expect(titles).toContain(t);
    expect(new Set(dashboard.panels.map((p: any) => p.id)).size).toBe(dashboard.panels.length);
  });
});
