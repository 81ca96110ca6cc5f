// Shared pieces of the benchmarks: results with units, baselines and ratios, and the table.
import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";

export const results = [];

/**
 * Records one figure. `baseline` names the figure it is compared to (measured in the same run);
 * the ratio is value / baseline's value.
 */
export function record(suite, name, value, unit, baseline) {
  const base = baseline ? results.find((r) => r.suite === suite && r.name === baseline) : undefined;
  const entry = { suite, name, value: round(value), unit };
  if (base) Object.assign(entry, { baseline, ratio: round(value / base.value, 3) });
  results.push(entry);
  return entry;
}

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
  const rows = results.map((r) => [r.suite, r.name, `${r.value} ${r.unit}`, r.baseline ?? "", r.ratio === undefined ? "" : `${r.ratio}x`]);
  const head = ["suite", "figure", "value", "baseline", "ratio"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export function save(file) {
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine: machine(), results }, null, 2) + "\n");
}
