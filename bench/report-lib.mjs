// The failover report: runs `simulate` (the built filter module in the TypeScript host) on the
// shipped scenarios and renders each case as an SVG chart (vega-lite) plus a markdown table.
// Every number shown comes from the simulation report; nothing here measures or decides.
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { basename, extname, join } from "node:path";
import * as vega from "vega";
import { compile } from "vega-lite";
import { loadScenario } from "../dist/tools/scenario.js";
import { simulate } from "../dist/tools/simulate/index.js";

export const SEED = 1;
const WIDTH = 820;
// Cluster colours avoid red and green, which the failure and recovery rules use.
const CLUSTER_COLORS = ["#4c78a8", "#f58518", "#72b7b2", "#b279a2", "#9d755d", "#eeca3b", "#bab0ac", "#ff9da6"];
const MARKS = [
  { kind: "failure", title: "failure event", color: "#d62728", dash: [1, 0] },
  { kind: "recovery", title: "recovery", color: "#2ca02c", dash: [1, 0] },
  { kind: "failover", title: "failover done (share < 5%)", color: "#222222", dash: [6, 3] },
  { kind: "failback", title: "failback done (share back within 5 points)", color: "#6a3d9a", dash: [2, 2] },
];
const COUNTS = [
  { key: "errors", title: "client-visible errors", color: "#d62728" },
  { key: "retries", title: "retries", color: "#1f77b4" },
  { key: "probes", title: "probes", color: "#ff7f0e" },
];

/** Scenario files under `dir`, in name order. */
export function scenarioFiles(dir) {
  return readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort().map((f) => join(dir, f));
}

/** The simulate cases of the given scenario files (or those named `only`), each run with the same seed. */
export async function runCases(files, { seed = SEED, only } = {}) {
  const results = [];
  for (const file of files) {
    for (const c of loadScenario(file).simulate) if (only === undefined || c.name === only) results.push(await simulate(c, { seed }));
  }
  return results;
}

const scenarioName = (r) => basename(r.scenario, extname(r.scenario));
const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

/** Stable file name of a case's chart: scenario file name + case name. */
export const chartFile = (r) => `${scenarioName(r)}--${slug(r.case)}.svg`;

/** Seconds per timeline row (rows start at multiples of the interval). */
const intervalOf = (r) => (r.timeline.length > 1 ? r.timeline[1].at - r.timeline[0].at : 1);
const fmt = (s) => s.toFixed(2);
const errorPct = (t) => (t.requests ? ((100 * t.errors) / t.requests).toFixed(2) : "0.00");

const order = (m) => MARKS.findIndex((k) => k.kind === m.kind);

/** The vertical marks of a case: failures, recoveries, and where failover and failback completed. */
export function caseMarks(r) {
  const several = new Set(r.events.map((e) => e.cluster)).size < r.events.length;
  const marks = [];
  const recoveries = new Set();
  for (const e of r.events) {
    marks.push({ t: e.at, kind: "failure", label: e.event });
    // Same-cluster events share one recovery: draw it once.
    if (e.recoveredAt !== null && !recoveries.has(`${e.cluster}@${e.recoveredAt}`)) {
      recoveries.add(`${e.cluster}@${e.recoveredAt}`);
      marks.push({ t: e.recoveredAt, kind: "recovery", label: `${e.cluster} recovers` });
    }
    // Measured from different events, the same moment needs to say which event it answers.
    const from = several ? ` after the ${e.at} s event` : "";
    if (e.failover !== null) marks.push({ t: e.at + e.failover, kind: "failover", label: `${e.cluster} failover ${fmt(e.failover)} s${from}` });
    if (e.failback !== null && e.recoveredAt !== null) marks.push({ t: e.recoveredAt + e.failback, kind: "failback", label: `${e.cluster} failback ${fmt(e.failback)} s${from}` });
  }
  return marks.map((m) => ({ ...m, t: Math.round(m.t * 1000) / 1000 })).sort((a, b) => a.t - b.t || order(a) - order(b));
}

/** Places labels in rows so that none overlaps another (estimated text widths, in pixels). */
function laneMarks(marks, end) {
  const lanes = []; // per lane: the rightmost pixel taken
  return marks.map((m) => {
    const x = (m.t / end) * WIDTH;
    const w = m.label.length * 6.3 + 8;
    const right = x + w > WIDTH; // near the right edge: label to the left of the rule
    const [from, to] = right ? [x - w, x] : [x, x + w];
    let lane = lanes.findIndex((taken) => taken + 4 <= from);
    if (lane < 0) lane = lanes.length;
    lanes[lane] = to;
    return { ...m, lane, align: right ? "right" : "left", color: MARKS.find((k) => k.kind === m.kind).color };
  });
}

/** Outcomes that leave no mark on the chart, said in the subtitle instead. */
function unmarked(r) {
  const out = [];
  for (const e of r.events) {
    const partial = e.expectedShare !== null && e.expectedShare >= 5;
    if (partial && e.settled === null) out.push(`${e.event} at ${e.at} s: its share never settled within 5 points of the expected ${e.expectedShare}%`);
    if (!partial && e.failover === null && e.shareBefore !== undefined && e.shareBefore >= 5) out.push(`${e.event} at ${e.at} s: never failed over (its share did not stay below 5%)`);
    if (e.recoveredAt !== null && e.failover !== null && e.failback === null) out.push(`${e.event} at ${e.at} s: no failback before the next event or the end`);
  }
  return out;
}

/** The vega-lite spec of one case's chart. */
export function caseSpec(r) {
  const step = intervalOf(r);
  const last = r.timeline[r.timeline.length - 1];
  const end = last ? last.at + step : 1;
  // Layers of one panel must agree on the axis (a null one hides it), so each panel passes its own.
  const x = (axis) => ({ field: "t", type: "quantitative", scale: { domain: [0, end], nice: false, zero: true }, axis });
  const timeAxis = { title: "simulated time (s)", grid: false };
  const clusters = Object.keys(r.timeline[0]?.share ?? {});
  const series = r.totals.unrouted > 0 ? [...clusters, "unrouted"] : clusters;
  // The last row's values are repeated at the end so that step-after lines cover its interval.
  const rows = last ? [...r.timeline, { ...last, at: end }] : [];
  const shares = rows.flatMap((w) => series.map((name) => ({
    t: w.at, cluster: name, share: name === "unrouted" ? (w.requests ? (100 * w.unrouted) / w.requests : 0) : w.share[name],
  })));
  const counts = rows.flatMap((w) => COUNTS.map((c) => ({ t: w.at, t2: w.at + step, series: c.title, value: w[c.key] / step })));
  const marks = laneMarks(caseMarks(r), end);
  const lanes = Math.max(1, ...marks.map((m) => m.lane + 1));

  const markScale = { domain: MARKS.map((k) => k.title), range: MARKS.map((k) => k.color) };
  const dashScale = { domain: MARKS.map((k) => k.title), range: MARKS.map((k) => k.dash) };
  const ruleData = { values: marks.map((m) => ({ ...m, kindTitle: MARKS.find((k) => k.kind === m.kind).title })) };
  const rules = (legend, axis = null) => ({
    data: ruleData,
    mark: { type: "rule", strokeWidth: 1.5 },
    encoding: {
      x: x(axis),
      stroke: { field: "kindTitle", type: "nominal", scale: markScale, legend: legend ? { title: "marks", orient: "right", symbolType: "stroke", labelLimit: 400 } : null },
      strokeDash: { field: "kindTitle", type: "nominal", scale: dashScale, legend: legend ? { title: "marks", labelLimit: 400 } : null },
    },
  });
  const labels = (align) => ({
    data: ruleData,
    transform: [{ filter: { field: "align", equal: align } }],
    mark: { type: "text", align, dx: align === "left" ? 4 : -4, baseline: "middle", fontSize: 11 },
    encoding: {
      x: x(null),
      y: { field: "lane", type: "quantitative", scale: { domain: [-0.6, lanes - 0.4], reverse: true, nice: false, zero: false }, axis: null },
      text: { field: "label" },
      color: { field: "color", type: "nominal", scale: null },
    },
  });

  const t = r.totals;
  const subtitle = [
    `seed ${r.seed} · ${t.requests} requests · ${t.errors} client-visible errors (${errorPct(t)}%) · ${t.retries} retries · ${t.probes} probes`,
    ...unmarked(r),
    `traffic share: the cluster of each request's first attempt, per ${step === 1 ? "simulated second" : `${step} s of simulated time`}`,
  ];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: `${scenarioName(r)}: ${r.case}`, subtitle, anchor: "start", fontSize: 15, subtitleFontSize: 11 },
    background: "white",
    config: { font: "Helvetica, Arial, sans-serif", axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12 } },
    resolve: { scale: { color: "independent", y: "independent" }, axis: { x: "independent", y: "independent" }, legend: { color: "independent", stroke: "independent", strokeDash: "independent" } },
    spacing: 8,
    vconcat: [
      { width: WIDTH, height: lanes * 14 + 6, view: { stroke: null }, layer: [rules(false), labels("left"), labels("right")] },
      {
        width: WIDTH, height: 220,
        layer: [
          {
            data: { values: shares },
            mark: { type: "area", interpolate: "step-after" },
            encoding: {
              x: x(null),
              y: { field: "share", type: "quantitative", stack: "zero", scale: { domain: [0, 100] }, axis: { title: "traffic share (%)" } },
              color: { field: "cluster", type: "nominal", sort: series, scale: { domain: series, range: CLUSTER_COLORS }, legend: { title: "cluster", orient: "right", labelLimit: 400 } },
              order: { field: "order", type: "quantitative" },
            },
            transform: [{ calculate: `indexof(${JSON.stringify(series)}, datum.cluster)`, as: "order" }],
          },
          rules(true),
        ],
      },
      {
        width: WIDTH, height: 110,
        layer: [
          {
            data: { values: counts },
            transform: [{ filter: { field: "series", oneOf: COUNTS.slice(1).map((c) => c.title) } }],
            mark: { type: "line", interpolate: "step-after", strokeWidth: 1.2 },
            encoding: {
              x: x(timeAxis),
              y: { field: "value", type: "quantitative", axis: { title: "requests per second", tickMinStep: 1 } },
              color: { field: "series", type: "nominal", scale: { domain: COUNTS.map((c) => c.title), range: COUNTS.map((c) => c.color) }, legend: { title: "per second", orient: "right", labelLimit: 400 } },
            },
          },
          {
            data: { values: counts },
            // Drawn over the lines. Zero-height bars would still draw a sliver on the axis.
            transform: [{ filter: { field: "series", equal: COUNTS[0].title } }, { filter: "datum.value > 0" }],
            mark: { type: "rect" },
            encoding: {
              x: x(timeAxis), x2: { field: "t2" },
              y: { field: "value", type: "quantitative" }, y2: { datum: 0 },
              color: { field: "series", type: "nominal" },
            },
          },
          rules(false, timeAxis),
        ],
      },
    ],
  };
}

/** A vega-lite spec rendered as an SVG document (also the benchmark charts' renderer). */
export async function renderSvg(spec) {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** One case's chart as an SVG document. */
export const renderCase = (r) => renderSvg(caseSpec(r));

/** Per-event cells: the value alone for one event, else "at s: value" per event. */
const perEvent = (r, cell) => (r.events.length === 0 ? "—" : r.events.length === 1 ? cell(r.events[0]) : r.events.map((e) => `${e.at} s: ${cell(e)}`).join("<br>"));

const failoverCell = (e) => (e.expectedShare !== null && e.expectedShare >= 5 ? "—"
  : e.failover !== null ? fmt(e.failover) : e.shareBefore !== undefined && e.shareBefore >= 5 ? "never" : "n/a");
const expectedCell = (e) => (e.healthy === null || e.expectedShare === null ? "—" : `${e.healthy.healthy}/${e.healthy.total}: ${e.expectedShare}%`);
const settledCell = (e) => (e.expectedShare === null ? "—" : `${e.settled !== null ? fmt(e.settled) : "never"} (${e.errorsUntilSettled} errors)`);
const splitCell = (e) => (e.expectedShare === null ? "—" : e.splitSettled !== null ? fmt(e.splitSettled) : "never");
const failbackCell = (e) => (e.recoveredAt === null || e.failover === null ? "—" : e.failback !== null ? fmt(e.failback) : "never");
const flappingCell = (e) => (e.recoveredAt === null || e.failover === null ? "—" : e.flapping ? "yes" : "no");
const cell = (s) => String(s).replace(/\|/g, "\\|");

/** Events of a case, as run: each failure, and each recovery once. */
function eventsCell(r) {
  const seen = new Set();
  const out = [];
  for (const e of r.events) {
    out.push({ t: e.at, text: e.event });
    if (e.recoveredAt !== null && !seen.has(`${e.cluster}@${e.recoveredAt}`)) {
      seen.add(`${e.cluster}@${e.recoveredAt}`);
      out.push({ t: e.recoveredAt, text: `${e.cluster} recovers` });
    }
  }
  return out.sort((a, b) => a.t - b.t).map((e) => `${e.t} s: ${e.text}`).join("<br>") || "—";
}

/** The markdown table: one row per case, each linking its chart (relative to the table's folder). */
export function reportTable(results) {
  const head = [
    "scenario", "case", "events", "healthy endpoints: expected share", "settled within 5 points (s)", "the module's split within 5 points (s)", "failover time (s)",
    "failback time (s)", "client-visible errors", "retries", "probes", "flapping",
  ];
  const rows = results.map((r) => [
    `\`${scenarioName(r)}\``, `[${cell(r.case)}](${chartFile(r)})`, cell(eventsCell(r)),
    perEvent(r, expectedCell), perEvent(r, settledCell), perEvent(r, splitCell), perEvent(r, failoverCell), perEvent(r, failbackCell),
    `${r.totals.errors} (${errorPct(r.totals)}%)`, String(r.totals.retries), String(r.totals.probes), perEvent(r, flappingCell),
  ]);
  return [head, head.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n") + "\n";
}

/** docs/report/README.md: the table, how the figures are measured, how to reproduce, the charts. */
export function reportReadme(results) {
  return `# Failover report

\`failover simulate\` on every simulate case of the shipped scenarios (\`scenarios/\`), seed ${SEED}.
The decision is the built filter module's (\`build/failover.wasm\` in the TypeScript host); the
simulator plays Envoy (clock, traffic, upstream clusters, the router's retries). Each case name
links its chart. Generated by \`bench/report.mjs\`: do not edit by hand.

${reportTable(results)}
Reproduce: \`npm run report\` (builds the module and dist/ if stale, then rewrites this folder).

How the figures are measured (\`extproc/tools/simulate/report.ts\`, see \`scenarios/README.md\`):

- **healthy endpoints: expected share**: the cluster's healthy endpoints after the event, of its
  endpoints (the scenario's world: \`envoy.clusters.*.endpoints\` or the policy's \`endpoints\`),
  and the share the module's own arithmetic gives it for that health (\`failover plan\` with
  \`assume: {cluster: {healthy, total}}\` for every cluster): Envoy's rule for the healthy share.
- **settled within 5 points**: from the event until the cluster's share stays within 5 points of
  the expected share until the next event of any cluster, with the client-visible errors until
  then; "never" if it did not.
- **the module's split within 5 points**: the same for the split the module decided (the
  \`split=\` of its \`x-failover-decision\` on each request), which the observed share samples: at
  100 requests a second a 50/50 split observed over 200 requests varies by 3.5 points (one
  standard deviation), so the observed share may leave the 5 points now and then although the
  module's split does not.
- **failover time**, only where the rule gives the cluster nothing (expected share below 5%): from
  the event until its share stays below 5% until its recovery; "never" if it did not, "n/a" if it
  carried no traffic before; "—" where the rule gives it traffic (a partial failure).
- **failback time**: from the recovery until the cluster's share is back within 5 points of its
  share before the failure, measured until the next event of any cluster; "never" if it was not.
- **client-visible errors**: requests whose final response was a 5xx (after Envoy's retries), with
  their share of all requests; **retries**: attempts after the first; **probes**: requests the
  module sent to an ejected cluster to notice its recovery.
- **flapping**: after the recovery, the cluster's share crossed half its pre-failure share more
  than twice. Several failure events in a case give one value per event. "—": not measured (no
  recovery, or no failover to come back from).
- Shares are by the cluster of each request's first attempt, over sliding windows of one
  interval's requests (at least 200).

## Charts

${results.map((r) => `### ${scenarioName(r)}: ${r.case}\n\n![${r.case}](${chartFile(r)})\n`).join("\n")}`;
}

/** Writes every chart and the README into `dir`; returns the chart file names. */
export async function writeReport(results, dir) {
  mkdirSync(dir, { recursive: true });
  const files = results.map(chartFile);
  const dup = files.find((f, i) => files.indexOf(f) !== i);
  if (dup) throw new Error(`two cases map to the same chart file ${dup}: rename one`);
  for (const r of results) writeFileSync(join(dir, chartFile(r)), await renderCase(r));
  writeFileSync(join(dir, "README.md"), reportReadme(results));
  return files;
}
