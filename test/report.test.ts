// The failover report (bench/report-lib.mjs) on one shipped case: the chart is a well-formed SVG
// that names the clusters and marks the events, and the table row carries the simulation's own
// numbers. The library imports the built dist/ (npm test builds it first).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimulationReport } from "../extproc/tools/simulate/index.js";
import { root } from "./support/wasm.js";

interface ReportLib {
  runCases(files: string[], options?: { seed?: number; only?: string }): Promise<SimulationReport[]>;
  renderCase(r: SimulationReport): Promise<string>;
  reportTable(results: SimulationReport[]): string;
  writeReport(results: SimulationReport[], dir: string): Promise<string[]>;
  chartFile(r: SimulationReport): string;
}

const SCENARIO = join(root, "scenarios", "000-edge-gateway.yaml");
const CASE = "auto, cluster-2 upstream service scaled to 0";

/** Checks that tags nest and close, attributes are quoted, and no bare `<` or `&` is left in text. */
function expectWellFormedXml(xml: string): void {
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/g;
  const open: string[] = [];
  let text = "";
  let last = 0;
  for (let m = tag.exec(xml); m; m = tag.exec(xml)) {
    text += xml.slice(last, m.index);
    last = tag.lastIndex;
    const [, closing, name, , selfClosing] = m;
    if (closing) expect(open.pop(), `</${name}> closes`).toBe(name);
    else if (!selfClosing) open.push(name);
  }
  text += xml.slice(last);
  expect(open, "unclosed elements").toEqual([]);
  expect(text).not.toMatch(/</);
  expect(text).not.toMatch(/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/);
}

describe("failover report", () => {
  let lib: ReportLib;
  let r: SimulationReport;
  let dir: string;
  let files: string[];

  beforeAll(async () => {
    lib = (await import(pathToFileURL(join(root, "bench", "report-lib.mjs")).href)) as ReportLib;
    [r] = await lib.runCases([SCENARIO], { only: CASE });
    dir = mkdtempSync(join(tmpdir(), "failover-report-"));
    files = await lib.writeReport([r], dir);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("runs the one case, which fails over and back", () => {
    expect(r.case).toBe(CASE);
    const [e] = r.events;
    // The checks below need numbers to look for.
    expect(e.failover).not.toBeNull();
    expect(e.failback).not.toBeNull();
    expect(e.settled).not.toBeNull();
    expect(e.expectedShare).toBe(0); // the module's plan with cluster-2 at 0 of 1 endpoints healthy
    expect(r.totals.retries).toBeGreaterThan(0);
    expect(files).toEqual(["000-edge-gateway--auto-cluster-2-upstream-service-scaled-to-0.svg"]);
  });

  it("renders a well-formed SVG with the clusters, the events and the measured times", async () => {
    const svg = readFileSync(join(dir, files[0]), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expectWellFormedXml(svg);
    const [e] = r.events;
    for (const text of [
      "cluster-1", "cluster-2", `000-edge-gateway: ${CASE}`, "simulated time (s)", "traffic share (%)", "client-visible errors",
      e.event, "cluster-2 recovers", `cluster-2 failover ${e.failover!.toFixed(2)} s`, `cluster-2 failback ${e.failback!.toFixed(2)} s`,
    ]) expect(svg).toContain(text);
    // Same input, same bytes: the committed charts only change when the simulation does.
    expect(await lib.renderCase(r)).toBe(svg);
  });

  it("writes a table row with the simulation's own numbers, linking the chart", () => {
    const row = lib.reportTable([r]).trim().split("\n")[2];
    const cells = row.split(" | ").map((c) => c.replace(/^\| |\s\|$/g, ""));
    const [e] = r.events;
    const t = r.totals;
    expect(cells).toEqual([
      "`000-edge-gateway`", `[${CASE}](${files[0]})`,
      `${e.at} s: ${e.event}<br>${e.recoveredAt} s: cluster-2 recovers`,
      `${e.healthy!.healthy}/${e.healthy!.total}: ${e.expectedShare}%`, `${e.settled!.toFixed(2)} (${e.errorsUntilSettled} errors)`,
      e.splitSettled!.toFixed(2), e.failover!.toFixed(2), e.failback!.toFixed(2),
      `${t.errors} (${((100 * t.errors) / t.requests).toFixed(2)}%)`, String(t.retries), String(t.probes), e.flapping ? "yes" : "no",
    ]);
    const readme = readFileSync(join(dir, "README.md"), "utf8");
    expect(readme).toContain(row);
    expect(readme).toContain("npm run report");
  });
});
