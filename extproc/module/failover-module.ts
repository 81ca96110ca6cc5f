// Runs the built failover module (build/failover.wasm) in the TypeScript proxy-wasm host for the
// tools: starts a VM with a plugin configuration and a clock, turns a rejected configuration
// into the module's own error lines with the file and line they point at, and reads the plan the
// module publishes in shared data. The decision itself is only ever the module's.

import { fileURLToPath } from "node:url";
import { ConfigurationError, LogLevel, PluginVm, type PropertyTree, loadModule } from "../host/index.js";
import { MODULE_FILE_NAME, type PublishedPlan, decodePlan, planKey } from "./contract.js";
import { type PathSegment, locateLine } from "./policy-file.js";

export type { PlanCluster, PlanPriority, PlanRoute, PlanRouteCluster, PublishedPlan } from "./contract.js";

/** The build output the filter configs point at (`failover.wasm`). */
export const FAILOVER_WASM = fileURLToPath(new URL(`../../build/${MODULE_FILE_NAME}`, import.meta.url));

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


/** The plan the module last published (from the root context `rootId`, "" by default). */
export function readPlan(vm: PluginVm, rootId = ""): PublishedPlan {
  const key = planKey(rootId);
  const entry = vm.shared.get(vm.vmId, key);
  if (!entry) throw new Error(`the module published no plan (shared data key "${key}")`);
  return decodePlan(entry.value);
}

/**
 * The module's complaints about `policy` (JSON text), `[]` when it accepts it: the module is
 * started the way Envoy starts it (on_vm_start, then on_configure) and its own error lines are
 * the verdict. `node` is what Envoy would serve as xds.node (locality, metadata), so the module
 * sees the proxy it would run in.
 */
export function policyProblems(module: WebAssembly.Module, policy: string, node: PropertyTree = {}): string[] {
  const vm = new PluginVm(module, {
    pluginConfig: policy,
    vmId: "failover",
    pluginName: "failover",
    properties: { xds: { node } },
    logLevel: LogLevel.Error,
    logger: () => {},
  });
  try {
    vm.start();
    return [];
  } catch (e) {
    if (e instanceof ConfigurationError) return e.moduleLog.length ? e.moduleLog : [e.message];
    // A trap or a link error is the module's fault, not the policy's; still, it does not start.
    return [`the module failed to start: ${(e as Error).message}`];
  }
}
