// The calls on the HTTP stream itself: body and configuration buffers, the local reply, resuming
// and resetting the stream, and http_call (this host has no upstream clusters).

import { BufferType, LogLevel, StreamType, WasmResult } from "../abi.js";
import { decodePairs } from "../pairs.js";
import { BAD, MEM, type HostContext, type HostFunctions } from "./context.js";

/** The configuration buffers: the VM's always, the plugin's only while on_configure runs. */
export interface ConfigBuffers {
  vmConfiguration(): Uint8Array;
  /** undefined outside on_configure. */
  pluginConfiguration(): Uint8Array | undefined;
}

export function httpCalls(h: HostContext, config: ConfigBuffers): HostFunctions {
  return {
    proxy_get_buffer_bytes(type: number, start: number, max: number, retPtr: number, retSize: number): number {
      if (type > BufferType.CallData) return BAD;
      // cpp-host checks start + length for overflow in 64 bits: two u32 never overflow, so a
      // range past the end is clamped, never refused.
      start >>>= 0;
      max >>>= 0;
      let data: Uint8Array | undefined;
      if (type === BufferType.VmConfiguration) {
        data = config.vmConfiguration(); // Envoy serves it in every callback
      } else if (type === BufferType.PluginConfiguration) {
        data = config.pluginConfiguration();
        if (!data) return WasmResult.NotFound; // only while on_configure runs
      } else if (type === BufferType.HttpRequestBody || type === BufferType.HttpResponseBody) {
        data = h.stream()?.buffer(type) ?? new Uint8Array(0);
      } else {
        return WasmResult.NotFound; // no network, call or gRPC buffers in an HTTP host
      }
      const slice = start >= data.length ? new Uint8Array(0) : data.subarray(start, Math.min(data.length, start + max));
      return h.memory.give(slice, retPtr, retSize);
    },
    proxy_set_buffer_bytes(type: number, start: number, length: number, ptr: number, size: number): number {
      if (type > BufferType.CallData) return BAD;
      const data = h.memory.read(ptr, size);
      if (!data) return MEM;
      const s = h.stream();
      if (!s || (type !== BufferType.HttpRequestBody && type !== BufferType.HttpResponseBody)) return BAD;
      return s.setBuffer(type, start >>> 0, length >>> 0, new Uint8Array(data));
    },
    proxy_send_local_response(status: number, dPtr: number, dSize: number, bPtr: number, bSize: number, hPtr: number, hSize: number, grpc: number): number {
      const details = h.memory.readString(dPtr, dSize);
      const body = h.memory.read(bPtr, bSize);
      const headers = h.memory.read(hPtr, hSize);
      if (details === undefined || !body || !headers) return MEM;
      const s = h.stream();
      if (!s) return WasmResult.Ok; // Envoy: no effect outside an HTTP stream
      const pairs = decodePairs(headers) ?? [];
      s.sendLocalReply(status >>> 0, details.replace(/\s/g, "_"), new Uint8Array(body), pairs, grpc >>> 0);
      return WasmResult.Ok;
    },
    proxy_continue_stream(type: number): number {
      if (type > StreamType.Upstream) return BAD;
      if (type >= StreamType.Downstream) return WasmResult.Unimplemented;
      return h.stream()?.continueStream(type) ?? WasmResult.Ok;
    },
    proxy_close_stream(type: number): number {
      if (type > StreamType.Upstream) return BAD;
      return h.stream()?.closeStream(type) ?? WasmResult.Ok;
    },
    proxy_http_call(uPtr: number, uSize: number): number {
      const upstream = h.memory.readString(uPtr, uSize);
      if (upstream === undefined) return MEM;
      // Envoy answers BadArgument for a cluster it does not know; this host has no clusters.
      h.log(LogLevel.Warn, `host: http_call to "${upstream}": this host has no upstream clusters`);
      return BAD;
    },
  };
}
