// The callbacks Envoy calls (proxy_on_*), the ABI version marker and the allocator export.
// The filter's entry file re-exports everything here (and nothing else becomes a module export).

import { roots, rootFactory, streams } from "./context";
import { hostBytesExceeded } from "./host";
// Loaded for its side: asconfig routes `abort` to ./abort/onAbort (Envoy has no env.abort).
import "./abort";

/** Marks the module as proxy-wasm ABI v0.2.1; the host looks for this export's name. */
export function proxy_abi_version_0_2_1(): void {}

/** The host allocates here the memory it hands to us (header values, buffers, properties). */
export function malloc(size: usize): usize {
  return heap.alloc(size);
}

export function proxy_on_context_create(contextId: u32, parentContextId: u32): void {
  if (parentContextId == 0) {
    const factory = rootFactory;
    if (factory === null) {
      abort("no root context factory set", "assembly/abi/exports.ts", 0, 0);
      return;
    }
    roots.set(contextId, factory(contextId));
  } else {
    // A parent that is not a root context is a host error: Map.get aborts with a clear message.
    streams.set(contextId, roots.get(parentContextId).newHttpContext(contextId));
  }
}

export function proxy_on_vm_start(rootId: u32, vmConfigurationSize: u32): bool {
  return roots.get(rootId).onVmStart(vmConfigurationSize);
}

export function proxy_on_configure(rootId: u32, pluginConfigurationSize: u32): bool {
  return roots.get(rootId).onConfigure(pluginConfigurationSize);
}

// The module uses AssemblyScript's minimal runtime: no shadow stack (smaller, faster code), so
// the collector must run where no managed reference lives on the wasm stack. The first thing an
// exported callback does is such a place; we collect there on every tick and every
// COLLECT_EVERY finished streams, which bounds the garbage between collections.
const COLLECT_EVERY: u32 = 1000;
// ... or once this many bytes of header values arrived: 1000 requests with 1 MiB headers
// otherwise left 3.5 GiB of garbage, near wasm32's 4 GiB.
const COLLECT_BYTES: usize = 16 << 20;
let deletedSinceCollect: u32 = 0;

export function proxy_on_tick(rootId: u32): void {
  __collect();
  deletedSinceCollect = 0;
  roots.get(rootId).onTick();
}

export function proxy_on_request_headers(id: u32, headers: u32, endOfStream: bool): u32 {
  return streams.get(id).onRequestHeaders(headers, endOfStream);
}

export function proxy_on_request_body(id: u32, bodySize: u32, endOfStream: bool): u32 {
  return streams.get(id).onRequestBody(bodySize, endOfStream);
}

export function proxy_on_request_trailers(id: u32, trailers: u32): u32 {
  return streams.get(id).onRequestTrailers(trailers);
}

export function proxy_on_response_headers(id: u32, headers: u32, endOfStream: bool): u32 {
  return streams.get(id).onResponseHeaders(headers, endOfStream);
}

export function proxy_on_response_body(id: u32, bodySize: u32, endOfStream: bool): u32 {
  return streams.get(id).onResponseBody(bodySize, endOfStream);
}

export function proxy_on_response_trailers(id: u32, trailers: u32): u32 {
  return streams.get(id).onResponseTrailers(trailers);
}

export function proxy_on_http_call_response(id: u32, token: u32, headers: u32, bodySize: u32, trailers: u32): void {
  if (roots.has(id)) roots.get(id).onHttpCallResponse(token, headers, bodySize, trailers);
  else streams.get(id).onHttpCallResponse(token, headers, bodySize, trailers);
}

export function proxy_on_log(id: u32): void {
  if (streams.has(id)) streams.get(id).onLog();
  else roots.get(id).onLog();
}

export function proxy_on_done(id: u32): bool {
  if (streams.has(id)) return streams.get(id).onDone();
  return roots.get(id).onDone();
}

export function proxy_on_delete(id: u32): void {
  if (++deletedSinceCollect >= COLLECT_EVERY || hostBytesExceeded(COLLECT_BYTES)) {
    __collect();
    deletedSinceCollect = 0;
  }
  if (streams.has(id)) {
    streams.get(id).onDelete();
    streams.delete(id);
  } else if (roots.has(id)) {
    roots.get(id).onDelete();
    roots.delete(id);
  }
}
