// The failover filter's cost per request as the work grows: clusters (1-256; past the policy's
// 64, through aggregates: policyFor), routes (1-64, the request matching the last) and request
// headers (20, 100), one dimension at a time from 4 clusters, 1 route, 20 headers. The empty
// module (the host's floor) is measured at each header count. Each dimension's ratios are
// against its first point, in the same run; the charts (vega-lite, like the failover report) go
// to docs/bench/.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FLOOR, measure, policy, request, requestHeaders, vmFor } from "./filter.mjs";
import { record } from "./lib.mjs";
import { renderSvg } from "./report-lib.mjs";

const SUITE = "cost as the work grows";
/** The policy's limit on clusters (assembly/policy/parse.ts MAX_CLUSTERS, test/limits.test.ts). */
const MAX_CLUSTERS = 64;

/**
 * The policy of a point. Past the policy's 64 clusters, the Envoy clusters a route can reach
 * grow through aggregates instead: 64 candidates, each named through an aggregate of 4 clusters
 * (itself first, retries moving to the next three), so 256 clusters behind one route.
 */
export function policyFor(clusters, routes) {
  if (clusters <= MAX_CLUSTERS) return policy(clusters, routes);
  const per = clusters / MAX_CLUSTERS;
  const p = policy(MAX_CLUSTERS, routes);
  const name = (i) => p.clusters[i % MAX_CLUSTERS].name;
  p.aggregates = p.clusters.map((c, i) => ({ name: `agg-${c.name}`, clusters: Array.from({ length: per }, (_, k) => name(i + k)) }));
  for (const r of p.routes) r.retry = { ...r.retry, acrossClusters: true };
  return p;
}
export const DIMENSIONS = [
  { key: "clusters", title: "clusters in the policy", values: [1, 4, 16, 64, 256] },
  { key: "routes", title: "routes in the policy (the request matches the last)", values: [1, 8, 64] },
  { key: "headers", title: "request headers", values: [20, 100] },
];
const DEFAULTS = { clusters: 4, routes: 1, headers: 20 };
const label = (p) => `failover, ${p.clusters} clusters, ${p.routes} routes, ${p.headers} headers`;
const floorLabel = (headers) => `${FLOOR}, ${headers} headers`;

/** Every point of every dimension, each distinct configuration once. */
function points() {
  const all = new Map();
  for (const d of DIMENSIONS) for (const v of d.values) {
    const p = { ...DEFAULTS, [d.key]: v };
    all.set(label(p), p);
  }
  return all;
}

export async function run({ chartDir } = {}) {
  const cases = [];
  const skipped = [];
  for (const [name, p] of points()) {
    let vm;
    try {
      vm = vmFor("failover", policyFor(p.clusters, p.routes));
    } catch (e) {
      // The policy's own limits (e.g. at most 64 clusters): said, not measured.
      skipped.push({ name, point: p, reason: e.message.split("\n")[0] });
      process.stderr.write(`  ${name}: not measured: ${e.message.split("\n")[0]}\n`);
      continue;
    }
    const headers = requestHeaders(p.headers);
    cases.push([name, () => request(vm, headers)]);
  }
  for (const n of DIMENSIONS.find((d) => d.key === "headers").values) {
    const vm = vmFor("empty", {});
    const headers = requestHeaders(n);
    cases.push([floorLabel(n), () => request(vm, headers)]);
  }
  const us = await measure(cases);
  const measured = new Set(us.keys());
  for (const d of DIMENSIONS) {
    const first = label({ ...DEFAULTS, [d.key]: d.values[0] });
    for (const v of d.values) {
      const name = label({ ...DEFAULTS, [d.key]: v });
      if (measured.has(name) && !results(d.key).has(name)) record(`${SUITE}: ${d.key}`, name, us.get(name), "µs", name === first ? undefined : first);
      results(d.key).add(name);
    }
  }
  const firstFloor = floorLabel(DEFAULTS.headers);
  for (const n of DIMENSIONS.find((d) => d.key === "headers").values) {
    record(`${SUITE}: headers`, floorLabel(n), us.get(floorLabel(n)), "µs", floorLabel(n) === firstFloor ? undefined : firstFloor);
  }
  if (chartDir) await writeCharts(chartDir, us, skipped);
  return { us, skipped };
}

const seen = new Map();
const results = (key) => (seen.has(key) ? seen.get(key) : seen.set(key, new Set()).get(key));

/** The vega-lite spec of one dimension's chart: the filter, and the host's floor. */
export function chartSpec(d, us, skipped) {
  const rows = [];
  for (const v of d.values) {
    const name = label({ ...DEFAULTS, [d.key]: v });
    if (us.has(name)) rows.push({ x: v, us: us.get(name), series: "failover filter" });
    if (d.key === "headers") rows.push({ x: v, us: us.get(floorLabel(v)), series: FLOOR });
  }
  const floor = us.get(floorLabel(DEFAULTS.headers));
  const notes = skipped.filter((s) => DIMENSIONS.some((dd) => dd.key === d.key && s.point[d.key] !== DEFAULTS[d.key])).map((s) => `${s.point[d.key]} ${d.key}: not measured (${s.reason})`);
  const fixed = Object.entries(DEFAULTS).filter(([k]) => k !== d.key).map(([k, v]) => `${v} ${k}`).join(", ");
  const log = d.key !== "headers";
  const layers = [
    {
      data: { values: rows },
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "x", type: "quantitative", title: d.title, scale: log ? { type: "log", base: 2, domain: [d.values[0], d.values[d.values.length - 1]] } : { domain: [0, d.values[d.values.length - 1]] }, axis: { values: d.values } },
        y: { field: "us", type: "quantitative", title: "µs per request (TypeScript host)", scale: { zero: true } },
        color: { field: "series", type: "nominal", scale: { domain: ["failover filter", FLOOR], range: ["#4c78a8", "#9d755d"] }, legend: { title: null, orient: "bottom", labelLimit: 400 } },
      },
    },
  ];
  if (log) {
    layers.push({
      data: { values: [{ us: floor, series: FLOOR }] },
      mark: { type: "rule", strokeDash: [4, 3] },
      encoding: { y: { field: "us", type: "quantitative" }, color: { field: "series", type: "nominal" } },
    });
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: `Filter cost per request vs ${d.key}`, subtitle: [`${fixed}; one request = request headers, response headers, log phase`, ...notes], anchor: "start", fontSize: 15, subtitleFontSize: 11 },
    background: "white",
    config: { font: "Helvetica, Arial, sans-serif", axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11 } },
    width: 520, height: 260,
    layer: layers,
  };
}

export const chartFile = (d) => `cost-vs-${d.key}.svg`;

async function writeCharts(dir, us, skipped) {
  mkdirSync(dir, { recursive: true });
  for (const d of DIMENSIONS) writeFileSync(join(dir, chartFile(d)), await renderSvg(chartSpec(d, us, skipped)));
}
