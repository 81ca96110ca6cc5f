// The contexts Envoy creates: one root context per plugin (configuration, timers, shared state)
// and one HTTP context per stream. A filter subclasses both; the exports in `exports.ts` route
// each callback to the context it names.

import { DataStatus, HeadersStatus, TrailersStatus } from "./types";

export class RootContext {
  constructor(public readonly id: u32) {}

  /** VM configuration arrived (BufferType.VmConfiguration holds it). False fails the VM. */
  onVmStart(configurationSize: u32): bool { return true; }
  /** Plugin configuration arrived (BufferType.PluginConfiguration). False rejects it. */
  onConfigure(configurationSize: u32): bool { return true; }
  onTick(): void {}
  onHttpCallResponse(token: u32, headers: u32, bodySize: u32, trailers: u32): void {}
  /** The host wants to tear the plugin down; false means "not yet" (then call proxy_done). */
  onDone(): bool { return true; }
  onLog(): void {}
  onDelete(): void {}

  /** Creates the per-stream context for stream `id`. */
  newHttpContext(id: u32): HttpContext { return new HttpContext(id, this); }
}

export class HttpContext {
  constructor(public readonly id: u32, public readonly root: RootContext) {}

  onRequestHeaders(headers: u32, endOfStream: bool): HeadersStatus { return HeadersStatus.Continue; }
  onRequestBody(bodySize: u32, endOfStream: bool): DataStatus { return DataStatus.Continue; }
  onRequestTrailers(trailers: u32): TrailersStatus { return TrailersStatus.Continue; }
  onResponseHeaders(headers: u32, endOfStream: bool): HeadersStatus { return HeadersStatus.Continue; }
  onResponseBody(bodySize: u32, endOfStream: bool): DataStatus { return DataStatus.Continue; }
  onResponseTrailers(trailers: u32): TrailersStatus { return TrailersStatus.Continue; }
  onHttpCallResponse(token: u32, headers: u32, bodySize: u32, trailers: u32): void {}
  /** The stream is complete and its access log is being written: response.* is final here. */
  onLog(): void {}
  onDone(): bool { return true; }
  onDelete(): void {}
}

/** Makes the root context for a plugin; set once by the filter's entry file. */
export type RootFactory = (id: u32) => RootContext;

// Live contexts by id, as the host numbers them.
export let rootFactory: RootFactory | null = null;
export const roots = new Map<u32, RootContext>();
export const streams = new Map<u32, HttpContext>();

export function setRootFactory(factory: RootFactory): void {
  rootFactory = factory;
}
