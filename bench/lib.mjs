// Shared pieces of the benchmarks: results with units, baselines and ratios, and the table.
import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";

export const results = [];

/**
 * Records one figure. `baseline` names the figure it is compared to (measured in the same run),
 * or several: the ratio is value / the first one's value, `ratios` holds one per baseline.
 */
export function record(suite, name, value, unit, baseline) {
  const names = baseline === undefined ? [] : [baseline].flat();
  const bases = names.map((b) => results.find((r) => r.suite === suite && r.name === b)).filter(Boolean);
  const entry = { suite, name, value: round(value), unit };
  if (bases.length) Object.assign(entry, { baseline: bases[0].name, ratio: round(value / bases[0].value, 3) });
  if (bases.length > 1) entry.ratios = Object.fromEntries(bases.map((b) => [b.name, round(value / b.value, 3)]));
  results.push(entry);
  return entry;
}

/** The value of a figure recorded earlier in this run. */
export const valueOf = (suite, name) => results.find((r) => r.suite === suite && r.name === name)?.value;

export const round = (v, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

export function percentile(sorted, p) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function machine() {
  const c = cpus();
  return { cpu: c[0]?.model ?? "unknown", cores: c.length, memoryGiB: round(totalmem() / 2 ** 30, 1), node: process.version, platform: `${process.platform} ${process.arch}` };
}

export function table() {
  const ratios = (r) => (r.ratios ? Object.entries(r.ratios).map(([b, x]) => `${x}x ${b}`).join(", ") : r.ratio === undefined ? "" : `${r.ratio}x`);
  const rows = results.map((r) => [r.suite, r.name, `${r.value} ${r.unit}`, r.ratios ? "" : r.baseline ?? "", ratios(r)]);
  const head = ["suite", "figure", "value", "baseline", "ratio"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** Writes the run's figures; `extra` adds top-level fields (e.g. the profile's top entries). */
export function save(file, extra = {}) {
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine: machine(), results, ...extra }, null, 2) + "\n");
}
