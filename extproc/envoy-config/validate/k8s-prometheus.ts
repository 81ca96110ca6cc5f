// prometheus-operator's PrometheusRule: its schema (fields, types) is checked like every kind's;
// what a schema cannot say, whether each rule's PromQL expression parses and its label and
// annotation templates are valid, Prometheus's own promtool says (`promtool check rules` on the
// groups, written as a Prometheus rules file). promtool is taken from PATH; without it the
// expressions go unchecked, and a warning says so.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { type Resource, arr, str } from "./resource.js";
import type { Path } from "./source.js";

// The members of a group and a rule that Prometheus's rule files have in every version we meet
// (Debian 12 ships promtool 2.42); the schema has already checked the rest
// (query_offset, keep_firing_for: newer Prometheus; partial_response_strategy: Thanos only).
const GROUP_FIELDS = ["name", "interval", "limit", "rules"];
const RULE_FIELDS = ["alert", "record", "expr", "for", "labels", "annotations"];
const PROMTOOL_TIMEOUT_MS = 20_000;

export function checkPrometheusRule(r: Resource): void {
  const groups = arr(r.spec.groups).map((g) => ({ ...pick(g, GROUP_FIELDS), rules: arr(g.rules).map((rule) => pick(rule, RULE_FIELDS)) }));
  if (!groups.length) return;
  const dir = mkdtempSync(join(tmpdir(), "failover-promtool-"));
  try {
    const file = join(dir, "rules.yaml");
    writeFileSync(file, stringify({ groups }));
    const run = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8", timeout: PROMTOOL_TIMEOUT_MS });
    if (run.error) {
      const why = (run.error as NodeJS.ErrnoException).code === "ENOENT" ? "promtool is not on PATH (Debian: apt-get install prometheus)" : run.error.message;
      r.issues.warn(["spec", "groups"], `rule expressions not checked: ${why}`);
      return;
    }
    if (run.status === 0) return;
    const lines = `${run.stdout}\n${run.stderr}`.split("\n").filter((l) => l.startsWith(`${file}:`));
    for (const line of lines) {
      const at = ruleProblem(line.slice(file.length + 1).trim(), groups);
      r.issues.error(at.path, `promtool: ${at.message}`);
    }
    if (!lines.length) r.issues.error(["spec", "groups"], `promtool check rules failed: ${(run.stderr || run.stdout).trim()}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `5:15: group "g", rule 1, "A": could not parse expression: ...` -> the rule's member and the message. */
function ruleProblem(text: string, groups: { name?: unknown; rules: unknown[] }[]): { path: Path; message: string } {
  const m = /^(?:\d+:\d+: )?group "(.*?)", rule (\d+)(?:, ".*?")?: (.*)$/.exec(text);
  const g = m ? groups.findIndex((x) => str(x.name) === m[1]) : -1;
  if (!m || g < 0) return { path: ["spec", "groups"], message: text };
  const rule: Path = ["spec", "groups", g, "rules", Number(m[2]) - 1];
  const problem = m[3];
  if (/^could not parse expression/.test(problem)) return { path: [...rule, "expr"], message: problem };
  const template = /^(annotation|label) "(.*?)"/.exec(problem);
  return { path: template ? [...rule, `${template[1]}s`, template[2]] : rule, message: problem };
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}
