// One HTTP Wasm filter config on one worker (Envoy's PluginConfig): its VM, and what a new stream
// gets once that VM trapped, by failure policy (failure-policy.ts; test/data/ENVOY-HOST-NOTES.md §11).

import { RELOAD_BASE_INTERVAL_MS, ReloadBackoff, type FailurePolicy, resolveFailurePolicy } from "./failure-policy.js";
import type { PropertyTree } from "./properties.js";
import type { HttpStream } from "./stream.js";
import { PluginVm, type PluginVmOptions } from "./vm.js";

export interface WasmPluginOptions extends PluginVmOptions {
  /** `reload_config.backoff.base_interval` in ms (FAIL_RELOAD only). */
  reloadBaseIntervalMs?: number;
  /** Monotonic milliseconds, for the reload backoff. */
  monotonicMs?: () => number;
  random?: () => number;
}

/** Envoy's WasmEvent counters for reloads (stats `wasm.<plugin>.vm_reload_*`). */
export interface ReloadStats { success: number; failure: number; backoff: number }

/** One HTTP Wasm filter config on one worker: its VM, and what new streams get after a trap. */
export class WasmPlugin {
  readonly policy: FailurePolicy;
  readonly reloads: ReloadStats = { success: 0, failure: 0, backoff: 0 };
  private current: PluginVm;
  private readonly backoff: ReloadBackoff | undefined;

  constructor(private readonly module: WebAssembly.Module, private readonly options: WasmPluginOptions = {}) {
    this.policy = resolveFailurePolicy(options.failOpen, options.failurePolicy);
    this.current = new PluginVm(module, options).start();
    const now = options.monotonicMs ?? (() => performance.now());
    if (this.policy === "fail-reload") this.backoff = new ReloadBackoff(options.reloadBaseIntervalMs ?? RELOAD_BASE_INTERVAL_MS, now, options.random);
  }

  get vm(): PluginVm { return this.current; }

  /** PluginConfig::createContext: reload first when the policy and the backoff allow it. */
  newStream(properties?: PropertyTree): HttpStream {
    if (this.current.failure && this.backoff) {
      if (!this.backoff.due()) this.reloads.backoff++;
      else {
        try {
          const fresh = new PluginVm(this.module, this.options).start();
          this.current.dispose(); // after the fresh VM holds the vm_id: shared data survives
          this.current = fresh;
          this.reloads.success++;
        } catch {
          this.reloads.failure++; // the failed VM stays; its new streams fail closed
        }
      }
    }
    return this.current.createStream(properties);
  }
}
