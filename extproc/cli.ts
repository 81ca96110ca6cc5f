// The `failover` command line: one entry per subcommand, each with its own usage (`--help`).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ParseArgsConfig, parseArgs } from "node:util";
import { FAILOVER_WASM, ModuleUnavailable, PolicyRejected } from "./module/failover-module.js";
import { formatPlan, planJson, runPlan } from "./tools/plan.js";
import { DocumentError, display } from "./module/policy-file.js";
import { Scenario, isBarePolicy, loadScenario, policyPlanCase } from "./tools/scenario.js";
import { SERVE_HELP, ServeUsageError, serveCommand } from "./sidecar/command.js";
import { validateEnvoyCommand } from "./envoy-config/validate/command.js";
import { formatSimulation, simulate, simulateJson } from "./tools/simulate/index.js";
import { formatStatus, fetchStatus } from "./tools/status.js";
import { validatePolicy } from "./tools/validate-policy.js";
import { VERSION } from "./version.js";
import { wasmImage, writeImageLayout } from "./module/wasm-image.js";

class UsageError extends Error {}

type Values = Record<string, string | boolean | string[] | undefined>;

interface Command {
  /** `failover NAME ...` and what it does: the first lines of its usage. */
  synopsis: string;
  /** Option lines (indented by 6), shown in its usage and in `failover help`. */
  options: string;
  run(argv: string[]): Promise<number>;
}

const PLAN_OPTIONS = `      --json           print JSON: {"split": {cluster: percent}, "routes": [...], ...}; split
                       is the first route's; several cases print {"cases": [...]}
      --case NAME      only the case with this name
      --assume CLUSTER=STATE  (a bare policy) health taken as given: H/T healthy of total
                       endpoints, score:N, or ejected; repeat for more clusters
`;

const COMMANDS: Record<string, Command> = {
  serve: {
    synopsis: "serve [options]      run the ext_proc sidecar (Envoy's external processing, gRPC)",
    options: SERVE_HELP.split("\n").slice(1).join("\n"),
    run: (argv) => serveCommand(argv),
  },
  plan: {
    synopsis: "plan FILE [options]  the split the filter would make: FILE is a scenario (its plan cases)\n                       or a bare policy (with --assume)",
    options: PLAN_OPTIONS,
    run: planCommand,
  },
  simulate: {
    synopsis: "simulate SCENARIO [options]\n                       run the scenario's traffic and failure events in simulated time",
    options: `      --json           print the timeline and summary as JSON
      --seed N         seed for the simulation's random draws (default 1)
      --case NAME      only the case with this name
`,
    run: simulateCommand,
  },
  validate: {
    synopsis: "validate POLICY...   check policy files with the filter itself; errors as file:line:column",
    options: "",
    run: validateCommand,
  },
  status: {
    synopsis: "status [options]     a running sidecar's live plan (/debug/clusters) as `plan` prints it",
    options: `      --admin URL      the sidecar's admin endpoint (default http://127.0.0.1:9902)
      --json           print /debug/clusters as it is
`,
    run: statusCommand,
  },
  image: {
    synopsis: "image [options]      write build/failover.wasm as an OCI image layout that Istio's and\n                       Envoy Gateway's Wasm image fetchers pull; prints its digest",
    options: `      --out DIR        where to write the layout (default build/image; replaced)
      --tag TAG        the tag in the layout's index (default ${VERSION})
      --module FILE    the module (default build/failover.wasm)
`,
    run: imageCommand,
  },
  "validate-envoy": {
    synopsis: "validate-envoy FILE...\n                       check Envoy bootstraps and Istio / Envoy Gateway / Kubernetes resources\n                       with Envoy's own protos, cross-check them, and run embedded policies\n                       through the filter; exit 1 on any error",
    options: "",
    run: async (files) => {
      if (files.length === 0) throw new UsageError("expected one or more FILEs");
      return validateEnvoyCommand(files, (t) => process.stdout.write(t), (t) => process.stderr.write(t));
    },
  },
};

/** Subcommands whose own code answers --help (the rest get theirs from COMMANDS). */
const OWN_HELP = new Set(["validate-envoy"]);

const usage = (name: string) => `usage: failover ${COMMANDS[name].synopsis}\n${COMMANDS[name].options ? `\noptions:\n${COMMANDS[name].options}` : ""}`;

const HELP = `failover ${VERSION}: locality- and health-aware failover for Envoy

usage: failover <command> [options]
       failover <command> --help    a command's own usage
       failover --version

commands:
${Object.values(COMMANDS).map((c) => `  ${c.synopsis}\n${c.options}`).join("")}
A SCENARIO is a YAML or JSON file; see scenarios/README.md. A POLICY is the filter's policy
document; see README.md.
`;

export async function main(argv: string[]): Promise<number> {
  const command = argv.find((a) => !a.startsWith("-")) ?? "help";
  const rest = argv.slice(argv.indexOf(command) + 1);
  if (argv[0] === "--version" || argv[0] === "-V") {
    process.stdout.write(`failover ${VERSION}\n`);
    return 0;
  }
  if (command === "help" || argv[0] === "--help" || argv[0] === "-h") {
    process.stdout.write(HELP);
    return 0;
  }
  const cmd = COMMANDS[command];
  if (!cmd) {
    process.stderr.write(`failover: unknown command "${command}"\n\n${HELP}`);
    return 2;
  }
  if (!OWN_HELP.has(command) && rest.some((a) => a === "--help" || a === "-h")) {
    process.stdout.write(usage(command));
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ServeUsageError) {
      process.stderr.write(`failover ${command}: ${e.message}\n\n${usage(command)}`);
      return 2;
    }
    if (e instanceof DocumentError || e instanceof PolicyRejected || e instanceof ModuleUnavailable) {
      process.stderr.write(`failover ${command}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** Parses a subcommand's arguments: `count` positionals and the given options. */
function args(argv: string[], options: NonNullable<ParseArgsConfig["options"]>, positionals: { min: number; max: number; what: string }) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const n = parsed.positionals.length;
  if (n < positionals.min || n > positionals.max) throw new UsageError(`expected ${positionals.what}`);
  return { files: parsed.positionals, values: parsed.values as Values };
}

function only<C extends { name: string }>(scenario: Scenario, cases: C[], name: string | undefined, kind: string): C[] {
  if (cases.length === 0) throw new DocumentError(`${display(scenario.file)}: no ${kind} cases`);
  if (name === undefined) return cases;
  const picked = cases.filter((c) => c.name === name);
  if (!picked.length) throw new UsageError(`no ${kind} case named "${name}" (cases: ${cases.map((c) => `"${c.name}"`).join(", ")})`);
  return picked;
}

/** `--assume cluster-2=5/14` (healthy of total), `=score:70`, `=ejected`. */
export function parseAssume(items: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const m = /^([^=]+)=(.+)$/.exec(item);
    const state = m?.[2].trim() ?? "";
    const frac = /^(\d+)\/(\d+)$/.exec(state);
    const score = /^score:(\d+(?:\.\d+)?)$/.exec(state);
    if (m && frac) out[m[1]] = { healthy: Number(frac[1]), total: Number(frac[2]) };
    else if (m && score) out[m[1]] = { score: Number(score[1]) };
    else if (m && state === "ejected") out[m[1]] = { ejected: true };
    else throw new UsageError(`--assume "${item}": expected CLUSTER=H/T (healthy of total endpoints), CLUSTER=score:N or CLUSTER=ejected`);
  }
  return out;
}

async function planCommand(argv: string[]): Promise<number> {
  const { files, values } = args(argv, { json: { type: "boolean" }, case: { type: "string" }, assume: { type: "string", multiple: true } }, { min: 1, max: 1, what: "one SCENARIO or POLICY file" });
  const assume = (values.assume as string[] | undefined) ?? [];
  let cases;
  if (isBarePolicy(files[0])) {
    if (values.case !== undefined) throw new UsageError("--case: a bare policy has no cases");
    cases = [policyPlanCase(files[0], parseAssume(assume))];
  } else {
    if (assume.length) throw new UsageError("--assume works with a bare policy file; a scenario sets `assume` in its cases");
    const scenario = loadScenario(files[0]);
    cases = only(scenario, scenario.plan, values.case as string | undefined, "plan");
  }
  const results = [];
  for (const c of cases) results.push(await runPlan(c));
  process.stdout.write(values.json ? JSON.stringify(planJson(results), null, 2) + "\n" : results.map(formatPlan).join("\n"));
  return 0;
}

async function simulateCommand(argv: string[]): Promise<number> {
  const { files, values } = args(argv, { json: { type: "boolean" }, seed: { type: "string" }, case: { type: "string" } }, { min: 1, max: 1, what: "one SCENARIO file" });
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed: expected a whole number 0..4294967295, got "${values.seed}"`);
  const scenario = loadScenario(files[0]);
  const reports = [];
  for (const c of only(scenario, scenario.simulate, values.case as string | undefined, "simulate")) reports.push(await simulate(c, { seed }));
  process.stdout.write(values.json ? JSON.stringify(simulateJson(reports), null, 2) + "\n" : reports.map(formatSimulation).join("\n"));
  return 0;
}

async function validateCommand(argv: string[]): Promise<number> {
  const { files } = args(argv, {}, { min: 1, max: Infinity, what: "one or more POLICY files" });
  let failed = 0;
  for (const file of files) {
    try {
      process.stdout.write(`${await validatePolicy(file)}\n`);
    } catch (e) {
      if (!(e instanceof DocumentError || e instanceof PolicyRejected)) throw e;
      failed++;
      process.stderr.write(`${e instanceof PolicyRejected ? e.problems.join("\n") : e.message}\n`);
    }
  }
  return failed ? 1 : 0;
}

async function statusCommand(argv: string[]): Promise<number> {
  const { values } = args(argv, { admin: { type: "string" }, json: { type: "boolean" } }, { min: 0, max: 0, what: "no FILE" });
  const admin = (values.admin as string | undefined) ?? "http://127.0.0.1:9902";
  if (!/^https?:\/\//.test(admin)) throw new UsageError(`--admin "${admin}": expected an http:// or https:// URL`);
  const status = await fetchStatus(admin);
  process.stdout.write(values.json ? JSON.stringify(status.raw, null, 2) + "\n" : formatStatus(admin, status));
  return status.ok ? 0 : 1;
}

async function imageCommand(argv: string[]): Promise<number> {
  const { values } = args(argv, { out: { type: "string" }, tag: { type: "string" }, module: { type: "string" } }, { min: 0, max: 0, what: "no FILE" });
  const out = (values.out as string | undefined) ?? "build/image";
  const tag = (values.tag as string | undefined) ?? VERSION;
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag)) throw new UsageError(`--tag "${tag}": not a valid image tag`);
  const modulePath = (values.module as string | undefined) ?? FAILOVER_WASM;
  let module: Buffer;
  try {
    module = readFileSync(modulePath);
  } catch (e) {
    throw new ModuleUnavailable(`${display(modulePath)}: cannot read (${(e as NodeJS.ErrnoException).code}): build it with \`npm run build\``);
  }
  const image = wasmImage(module, VERSION);
  writeImageLayout(image, out, tag);
  process.stdout.write(
    `wrote the OCI image layout ${display(out)} (tag ${tag})\n` +
    `image digest:  ${image.manifest.digest}   (a WasmPlugin's or Envoy Gateway's sha256: the hex part)\n` +
    `module sha256: ${image.moduleSha256}   (${display(modulePath)}, ${module.length} bytes)\n` +
    `push it: skopeo copy oci:${display(out)}:${tag} docker://REGISTRY/envoy-failover/failover-wasm:${tag}\n`,
  );
  return 0;
}

// `node dist/cli.js ...` runs the command line too (bin/failover.js builds first, then calls main).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
