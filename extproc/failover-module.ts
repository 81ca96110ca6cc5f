// Runs the built failover module (build/failover.wasm) in the TypeScript proxy-wasm host for the
// tools: starts a VM with a plugin configuration and a clock, turns a rejected configuration
// into the module's own error lines with the file and line they point at, and reads the plan the
// module publishes in shared data. The decision itself is only ever the module's.

import { fileURLToPath } from "node:url";
import { ConfigurationError, LogLevel, PluginVm, loadModule } from "./host/index.js";
import { type PathSegment, locateLine } from "./policy-file.js";

export const FAILOVER_WASM = fileURLToPath(new URL("../build/failover.wasm", import.meta.url));

/** The shared-data key the module publishes its plan under (docs/interface.md). */
export const PLAN_KEY = "failover.plan";

/**
 * Simulated time starts here (2026-01-01T00:00:00Z): a fixed clock makes every run with the same
 * inputs identical, including the module's own random seed when the policy sets none.
 */
export const EPOCH_NS = BigInt(Date.UTC(2026, 0, 1)) * 1_000_000n;

/** The module file is missing or does not compile. */
export class ModuleUnavailable extends Error {
  override name = "ModuleUnavailable";
}

/** The module refused the policy: its error lines, each prefixed with where the member is written. */
export class PolicyRejected extends Error {
  override name = "PolicyRejected";
  constructor(readonly problems: string[]) {
    super(`the failover module rejected the policy:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  }
}

// --- the published plan, as docs/interface.md specifies it --------------------------------------

export interface PlanPriority { priority: number; health: number; load: number; panic: boolean; clusters: string[] }
export interface PlanRouteCluster {
  name: string; priority: number; share: number; score: number; ejected: boolean; reason: string;
  /** The aggregate cluster the routing header names for this choice (retries across clusters). */
  via?: string;
}
export interface PlanRoute {
  name: string;
  mode: string;
  panic: boolean;
  affinity: string;
  priorities: PlanPriority[];
  split: Record<string, number>;
  clusters: PlanRouteCluster[];
}
export interface PlanCluster {
  name: string; score: number; ejected: boolean; ejections: number; requests: number; failures: number;
  latencyMs: number; baselineMs: number; assumed: boolean;
}
export interface PublishedPlan {
  generation: number;
  timeMs: number;
  locality: { region: string; zone: string; subzone: string; cluster: string };
  routes: PlanRoute[];
  clusters: PlanCluster[];
}

const modules = new Map<string, Promise<WebAssembly.Module>>();

/** Compiles the module once per process. */
export function failoverModule(path = FAILOVER_WASM): Promise<WebAssembly.Module> {
  let m = modules.get(path);
  if (!m) {
    m = loadModule(path).catch((e: NodeJS.ErrnoException) => {
      modules.delete(path);
      throw new ModuleUnavailable(e.code === "ENOENT" ? `${path} is missing: build it with \`node scripts/build.mjs\`` : `${path}: ${e.message}`);
    });
    modules.set(path, m);
  }
  return m;
}

export interface StartOptions {
  config: Record<string, unknown>;
  clock: () => bigint;
  /** Where a member of `config` is written, to place the module's error lines. */
  where?: (path: readonly PathSegment[]) => string;
  /** Receives the module's log lines at warning level and above. */
  onLog?: (message: string) => void;
}

/** A started VM running the failover module on `config`; throws PolicyRejected if refused. */
export function startFailover(module: WebAssembly.Module, options: StartOptions): PluginVm {
  const vm = new PluginVm(module, {
    pluginConfig: JSON.stringify(options.config),
    vmId: "failover",
    pluginName: "failover",
    clock: options.clock,
    logLevel: LogLevel.Warn,
    logger: (_level, message) => options.onLog?.(message),
  });
  try {
    return vm.start();
  } catch (e) {
    if (!(e instanceof ConfigurationError)) throw e;
    const lines = e.moduleLog.length ? e.moduleLog : [e.message];
    throw new PolicyRejected(lines.map((line) => locateLine(line, options.where)));
  }
}


/** The plan the module last published. */
export function readPlan(vm: PluginVm): PublishedPlan {
  const entry = vm.shared.get(vm.vmId, PLAN_KEY);
  if (!entry) throw new Error(`the module published no plan (shared data key "${PLAN_KEY}")`);
  return JSON.parse(new TextDecoder().decode(entry.value)) as PublishedPlan;
}
