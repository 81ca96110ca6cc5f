#!/usr/bin/env node
// `npm run report`: simulates every shipped scenario case (seed 1) and writes the charts and the
// table to docs/report/. Run after `node scripts/build.mjs` (the npm script does both).
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runCases, scenarioFiles, writeReport } from "./report-lib.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
process.chdir(root); // scenario paths in the reports are shown relative to the working directory
const out = join(root, "docs", "report");

const results = await runCases(scenarioFiles(join(root, "scenarios")));
const files = await writeReport(results, out);
// Charts of cases that no longer exist would linger: remove them.
for (const f of readdirSync(out)) if (f.endsWith(".svg") && !files.includes(f)) rmSync(join(out, f));
for (const r of results) {
  const t = r.totals;
  process.stdout.write(`${r.scenario}: ${r.case}: ${t.errors} errors, ${t.retries} retries, ${t.probes} probes\n`);
}
process.stdout.write(`wrote ${files.length} charts and README.md to docs/report/\n`);
