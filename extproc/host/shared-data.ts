// Shared data as Envoy keeps it: one key-value store per VM id, shared by every VM instance
// (every worker thread) with that id, each value carrying a compare-and-swap token. Hand one
// SharedData to several PluginVm instances to reproduce Envoy's worker threads. The data of a
// vm_id lives as long as some VM holds that id: cpp-host's VmIdHandle deletes it when the last
// WasmBase with the id is destroyed (src/vm_id_handle.cc, SharedData::deleteByVmId).

import { WasmResult } from "./abi.js";

export interface SharedEntry {
  value: Uint8Array;
  cas: number;
}

export class SharedData {
  private readonly scopes = new Map<string, Map<string, SharedEntry>>();
  private readonly holders = new Map<string, number>();
  private nextCas = 1;

  /** A VM with this id now exists. */
  acquire(vmId: string): void {
    this.holders.set(vmId, (this.holders.get(vmId) ?? 0) + 1);
  }

  /** A VM with this id is gone; the last one takes the id's data with it. */
  release(vmId: string): void {
    const n = (this.holders.get(vmId) ?? 0) - 1;
    if (n > 0) {
      this.holders.set(vmId, n);
      return;
    }
    this.holders.delete(vmId);
    this.scopes.delete(vmId);
  }

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
    scope.set(key, { value: new Uint8Array(value), cas: this.takeCas() }); // a copy: the bytes may be the module's memory
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
