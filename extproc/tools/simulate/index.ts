// `failover simulate`: runs a scenario's simulation cases and reports what the traffic did.
import { display } from "../../module/policy-file.js";
import type { SimulateCase } from "../scenario.js";
import { pct, table } from "../table.js";
import { expectations } from "./expected.js";
import { SimulationReport, TimelineRow, report } from "./report.js";
import { SimulateOptions, runSimulation } from "./run.js";

export type { SimulationReport } from "./report.js";
export type { SimulateOptions } from "./run.js";

export async function simulate(c: SimulateCase, options: SimulateOptions = {}): Promise<SimulationReport> {
  const seed = options.seed ?? 1;
  const run = await runSimulation(c, { seed });
  return report({ ...c, scenario: display(c.scenario) }, seed, run.records, run.log, await expectations(c));
}

/** One report as itself; several as `{cases: [...]}`. */
export function simulateJson(reports: SimulationReport[]): unknown {
  return reports.length === 1 ? reports[0] : { cases: reports };
}

const secs = (s: number | null, never: string) => (s === null ? never : `${s.toFixed(2)} s`);
const MODULE_LOG_LINES = 30;

/** Timeline rows for reading: runs of quiet rows (same shares, no errors, retries or events) merge into one. */
function quietRuns(rows: TimelineRow[]): { from: TimelineRow; to: TimelineRow; requests: number }[] {
  const out: { from: TimelineRow; to: TimelineRow; requests: number }[] = [];
  const quiet = (w: TimelineRow) => w.errors === 0 && w.retries === 0 && w.unrouted === 0 && w.probes === 0 && w.events.length === 0;
  for (const w of rows) {
    const last = out[out.length - 1];
    if (last && quiet(w) && quiet(last.to) && JSON.stringify(w.share) === JSON.stringify(last.to.share)) {
      last.to = w;
      last.requests += w.requests;
    } else out.push({ from: w, to: w, requests: w.requests });
  }
  return out;
}

export function formatSimulation(r: SimulationReport): string {
  let out = `${r.scenario}: ${r.case} (seed ${r.seed})\n`;
  if (r.description) out += `${r.description.trim().replace(/^/gm, "  ")}\n`;
  const clusters = Object.keys(r.timeline[0]?.share ?? {});
  const unrouted = r.totals.unrouted > 0;
  const probes = r.totals.probes > 0;
  out += "\n" + table(
    ["time", "requests", ...clusters, ...(unrouted ? ["unrouted"] : []), "errors", "retries", ...(probes ? ["probes"] : []), "events"],
    quietRuns(r.timeline).map(({ from, to, requests }) => [
      from === to ? `${from.at}s` : `${from.at}-${to.at}s`, String(requests), ...clusters.map((n) => pct(from.share[n])),
      ...(unrouted ? [String(from.unrouted)] : []), String(from.errors), String(from.retries),
      ...(probes ? [String(from.probes)] : []), from.events.join("; "),
    ]),
  );
  for (const e of r.events) {
    out += `\nat ${e.at}s: ${e.event}${e.note ? ` (${e.note})` : ""}\n`;
    out += `  share before: ${e.shareBefore === undefined ? "no traffic yet" : pct(e.shareBefore)}\n`;
    if (e.healthy && e.expectedShare !== null) {
      out += `  expected share with ${e.healthy.healthy} of ${e.healthy.total} endpoints healthy (the module's plan): ${pct(e.expectedShare)}\n`;
      out += `  settled within 5 points: ${secs(e.settled, "never (before the next event)")}; client-visible errors until then: ${e.errorsUntilSettled}\n`;
      out += `  the module's split within 5 points: ${secs(e.splitSettled, "never (before the next event)")}\n`;
      out += `  last client-visible error: ${e.lastError === null ? "none" : `after ${e.lastError.toFixed(2)} s`}\n`;
    }
    if (e.expectedShare === null || e.expectedShare < 5) {
      out += `  failover: ${secs(e.failover, e.shareBefore !== undefined && e.shareBefore < 5 ? "n/a (it carried no traffic)" : "never (its share did not stay below 5%)")}\n`;
    }
    out += `  client-visible errors until ${e.recoveredAt === null ? "the end" : "recovery"}: ${e.errors}\n`;
    if (e.recoveredAt !== null && e.failover !== null) {
      out += `  recovered at ${e.recoveredAt}s; failback: ${secs(e.failback, "never (its share did not come back within 5 points)")}; flapping: ${e.flapping ? "YES" : "no"}\n`;
    } else if (e.recoveredAt !== null) out += `  recovered at ${e.recoveredAt}s\n`;
  }
  const t = r.totals;
  const rate = t.requests ? ((100 * t.errors) / t.requests).toFixed(2) : "0.00";
  out += `\ntotal: ${t.requests} requests, ${t.errors} client-visible errors (${rate}%), ${t.retries} retries, ${t.probes} probes`;
  if (unrouted) out += `, ${t.unrouted} unrouted`;
  out += "\n";
  if (t.rerouted) out += `${t.rerouted} requests went to another cluster than the module chose (an aggregate skipped a child with no endpoints)\n`;
  if (r.moduleLog.length) {
    out += "\nmodule log:\n";
    for (const l of r.moduleLog.slice(0, MODULE_LOG_LINES)) out += `  ${l.at.toFixed(3)}s  ${l.message}\n`;
    if (r.moduleLog.length > MODULE_LOG_LINES) out += `  ... ${r.moduleLog.length - MODULE_LOG_LINES} more (see --json)\n`;
  }
  return out;
}
