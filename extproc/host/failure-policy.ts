// What a trap costs, as Envoy decides it (see test/data/ENVOY-HOST-NOTES.md §11).
//
// Two layers, as in Envoy:
// - the VM (proxy-wasm-cpp-host ContextBase, CHECK_FAIL): streams already open on a failed VM
//   pass untouched only when the plugin's legacy `fail_open` is true; otherwise each gets one
//   503 `wasm_fail_stream`. PluginVm and HttpStream model this.
// - the filter config (Envoy's PluginConfig::createContext): what a *new* stream gets once the
//   VM failed: FAIL_CLOSED an empty context that fails it (503), FAIL_OPEN no filter at all,
//   FAIL_RELOAD a VM rebuilt from the base, at most once per jittered backoff interval (and the
//   failed one, failing closed, while the backoff lasts). WasmPlugin (plugin.ts) models this.

import { ConfigurationError } from "./errors.js";

/** envoy.extensions.wasm.v3.FailurePolicy (Envoy ≥ 1.33), spelled as our flags spell it. */
export type FailurePolicy = "fail-closed" | "fail-open" | "fail-reload";
export const FAILURE_POLICIES: readonly FailurePolicy[] = ["fail-closed", "fail-open", "fail-reload"];

/**
 * Envoy's reading of PluginConfig: the deprecated `fail_open: true` means FAIL_OPEN, nothing set
 * means FAIL_CLOSED, and setting both is a configuration error.
 */
export function resolveFailurePolicy(failOpen: boolean | undefined, policy: FailurePolicy | undefined): FailurePolicy {
  if (failOpen && policy !== undefined) throw new ConfigurationError("only one of fail_open or failure_policy can be set", []);
  if (policy !== undefined && !FAILURE_POLICIES.includes(policy)) {
    throw new ConfigurationError(`unknown failure policy "${policy}" (expected one of ${FAILURE_POLICIES.join(", ")})`, []);
  }
  return failOpen ? "fail-open" : (policy ?? "fail-closed");
}

/** Default of `reload_config.backoff.base_interval` (Envoy: 1000 ms). */
export const RELOAD_BASE_INTERVAL_MS = 1000;

/**
 * When a failed VM may be rebuilt: Envoy's JitteredLowerBoundBackOffStrategy (a random wait in
 * [base, 1.5 × base)), measured from the last (re)load, a fresh draw at every new stream.
 */
export class ReloadBackoff {
  private lastLoadMs: number;

  /** `loadedAtMs`: when the VM was (last) loaded; Envoy counts from the handle's creation. */
  constructor(
    private readonly baseMs: number,
    private readonly nowMs: () => number,
    private readonly random: () => number = () => Math.floor(Math.random() * 2 ** 32),
    loadedAtMs: number = nowMs(),
  ) {
    if (!(baseMs > 1)) throw new ConfigurationError(`reload backoff base interval must be more than 1 ms (got ${baseMs})`, []);
    this.lastLoadMs = loadedAtMs;
  }

  /** True (and the load time reset) when a reload may happen now. */
  due(): boolean {
    const wait = (this.random() % Math.floor(this.baseMs / 2)) + this.baseMs;
    const now = this.nowMs();
    if (now - this.lastLoadMs < wait) return false;
    this.lastLoadMs = now;
    return true;
  }
}
