// Shared data as Envoy keeps it: one key-value store per VM id, shared by every VM instance
// (every worker thread) with that id, each value carrying a compare-and-swap token. Hand one
// SharedData to several PluginVm instances to reproduce Envoy's worker threads.

import { WasmResult } from "./abi.js";

export interface SharedEntry {
  value: Uint8Array;
  cas: number;
}

export class SharedData {
  private readonly scopes = new Map<string, Map<string, SharedEntry>>();
  private nextCas = 1;

  private scope(vmId: string): Map<string, SharedEntry> {
    let s = this.scopes.get(vmId);
    if (!s) this.scopes.set(vmId, (s = new Map()));
    return s;
  }

  get(vmId: string, key: string): SharedEntry | undefined {
    return this.scope(vmId).get(key);
  }

  /** cas 0 writes unconditionally; otherwise the write happens only if the token still matches. */
  set(vmId: string, key: string, value: Uint8Array, cas: number): WasmResult {
    const scope = this.scope(vmId);
    const cur = scope.get(key);
    if (cas !== 0 && cur !== undefined && cur.cas !== cas) return WasmResult.CasMismatch;
    scope.set(key, { value: Uint8Array.from(value), cas: this.takeCas() });
    return WasmResult.Ok;
  }

  private takeCas(): number {
    const cas = this.nextCas;
    // Tokens are u32 on the wire and 0 means "no CAS": wrap past it.
    this.nextCas = this.nextCas >= 0xffffffff ? 1 : this.nextCas + 1;
    return cas;
  }

  keys(vmId: string): string[] {
    return [...this.scope(vmId).keys()];
  }

  /** Total bytes held under a VM id (keys and values). */
  bytes(vmId: string): number {
    let n = 0;
    for (const [k, e] of this.scope(vmId)) n += k.length + e.value.length;
    return n;
  }
}
