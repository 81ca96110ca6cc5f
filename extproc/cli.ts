// The `failover` command line.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ParseArgsConfig, parseArgs } from "node:util";
import { ModuleUnavailable, PolicyRejected } from "./failover-module.js";
import { formatPlan, planJson, runPlan } from "./plan.js";
import { DocumentError, display } from "./policy-file.js";
import { Scenario, loadScenario } from "./scenario.js";
import { SERVE_HELP, ServeUsageError, serveCommand } from "./sidecar/command.js";
import { validateEnvoyCommand } from "./envoy-config/command.js";
import { formatSimulation, simulate, simulateJson } from "./simulate/index.js";

const HELP = `failover: locality- and health-aware failover for Envoy

usage: failover <command> [options]

commands:
  help                 this text
${SERVE_HELP}  plan SCENARIO        the split the filter would make for the scenario's health states
      --json           print JSON: {"split": {cluster: percent}, "routes": [...], ...}; split
                       is the first route's; several cases print {"cases": [...]}
      --case NAME      only the case with this name
  simulate SCENARIO    run the scenario's traffic and failure events in simulated time
      --json           print the timeline and summary as JSON
      --seed N         seed for the simulation's random draws (default 1)
      --case NAME      only the case with this name

  validate-envoy FILE...
                       check Envoy bootstraps and Istio / Envoy Gateway / Kubernetes resources
                       with Envoy's own protos, cross-check them, and run embedded policies
                       through the filter; exit 1 on any error

SCENARIO is a YAML or JSON file; see scenarios/README.md.
`;

class UsageError extends Error {}

export async function main(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false });
  const command = positionals[0] ?? "help";
  try {
    switch (command) {
      case "help":
        process.stdout.write(HELP);
        return 0;
      case "serve":
        return await serveCommand(argv.slice(argv.indexOf(command) + 1));
      case "validate-envoy": {
        const files = argv.slice(argv.indexOf(command) + 1);
        if (files.length === 0) throw new UsageError("expected one or more FILEs");
        return await validateEnvoyCommand(files, (t) => process.stdout.write(t), (t) => process.stderr.write(t));
      }
      case "plan":
        return await plan(argv.slice(argv.indexOf(command) + 1));
      case "simulate":
        return await simulateCommand(argv.slice(argv.indexOf(command) + 1));
      default:
        process.stderr.write(`failover: unknown command "${command}"\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof ServeUsageError) {
      process.stderr.write(`failover ${command}: ${e.message}\n\n${HELP}`);
      return 2;
    }
    if (e instanceof DocumentError || e instanceof PolicyRejected || e instanceof ModuleUnavailable) {
      process.stderr.write(`failover ${command}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** Parses a subcommand's arguments: one scenario path and the given options. */
function args(argv: string[], options: NonNullable<ParseArgsConfig["options"]>) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (parsed.positionals.length !== 1) throw new UsageError("expected one SCENARIO file");
  return { file: parsed.positionals[0], values: parsed.values as Record<string, string | boolean | undefined> };
}

function only<C extends { name: string }>(scenario: Scenario, cases: C[], name: string | undefined, kind: string): C[] {
  if (cases.length === 0) throw new DocumentError(`${display(scenario.file)}: no ${kind} cases`);
  if (name === undefined) return cases;
  const picked = cases.filter((c) => c.name === name);
  if (!picked.length) throw new UsageError(`no ${kind} case named "${name}" (cases: ${cases.map((c) => `"${c.name}"`).join(", ")})`);
  return picked;
}

async function plan(argv: string[]): Promise<number> {
  const { file, values } = args(argv, { json: { type: "boolean" }, case: { type: "string" } });
  const scenario = loadScenario(file);
  const results = [];
  for (const c of only(scenario, scenario.plan, values.case as string | undefined, "plan")) results.push(await runPlan(c));
  process.stdout.write(values.json ? JSON.stringify(planJson(results), null, 2) + "\n" : results.map(formatPlan).join("\n"));
  return 0;
}

async function simulateCommand(argv: string[]): Promise<number> {
  const { file, values } = args(argv, { json: { type: "boolean" }, seed: { type: "string" }, case: { type: "string" } });
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed: expected a whole number 0..4294967295, got "${values.seed}"`);
  const scenario = loadScenario(file);
  const reports = [];
  for (const c of only(scenario, scenario.simulate, values.case as string | undefined, "simulate")) reports.push(await simulate(c, { seed }));
  process.stdout.write(values.json ? JSON.stringify(simulateJson(reports), null, 2) + "\n" : reports.map(formatSimulation).join("\n"));
  return 0;
}

// `node dist/cli.js ...` runs the command line too (bin/failover.js builds first, then calls main).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
