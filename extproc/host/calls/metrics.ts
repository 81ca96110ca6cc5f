// proxy_define_metric and the calls on a metric id, over the VM's id table (metrics.ts).

import { WasmResult } from "../abi.js";
import type { MetricTable } from "../metrics.js";
import { MEM, type HostContext, type HostFunctions } from "./context.js";

export function metricCalls(h: HostContext, table: MetricTable): HostFunctions {
  return {
    proxy_define_metric(type: number, nPtr: number, nSize: number, retId: number): number {
      const name = h.memory.readString(nPtr, nSize);
      if (name === undefined) return MEM;
      const { result, id } = table.define(type, name);
      if (result !== WasmResult.Ok) return result;
      return h.memory.writeU32(retId, id) ? WasmResult.Ok : MEM;
    },
    proxy_increment_metric(id: number, offset: bigint): number {
      return table.increment(id >>> 0, BigInt(offset));
    },
    proxy_record_metric(id: number, value: bigint): number {
      return table.record(id >>> 0, BigInt.asUintN(64, BigInt(value)));
    },
    proxy_get_metric(id: number, retValue: number): number {
      const { result, value } = table.read(id >>> 0);
      if (result !== WasmResult.Ok) return result;
      return h.memory.writeU64(retValue, value) ? WasmResult.Ok : MEM;
    },
  };
}
