// One HTTP stream through a PluginVm, driven in Envoy's order: request headers, body, trailers,
// response headers, body, trailers, then on_log, on_done, on_delete. It enforces Envoy's rules
// on what the module may touch in each callback (request headers only while they are being
// processed, read-only maps in on_log), applies local replies the way Envoy's filter manager
// does, and turns a trap into Envoy's outcome for the stream (503 wasm_fail_stream, or a pass
// through when the plugin fails open).

import { BufferType, DataStatus, HeadersStatus, MapType, StreamType, WasmResult } from "./abi.js";
import { StreamStateError, WasmTrapError } from "./errors.js";
import { HeaderInput, HeaderMap } from "./headers.js";
import { PropertyLeaf, PropertyTree, lookupProperty, setProperty } from "./properties.js";
import type { PluginVm, StreamAccess } from "./vm.js";

export interface LocalReply {
  status: number;
  details: string;
  body: Uint8Array;
  /** The reply's headers as they left the filter chain (the module sees them in on_response_headers). */
  headers: HeaderMap;
  /** gRPC status, when the module gave one (0..16). */
  grpcStatus?: number;
}

export interface CallbackResult {
  /** What the callback returned (HeadersStatus / DataStatus / TrailersStatus numbers). */
  status: number;
  /** Set when the module (or a VM failure) answered the request itself. */
  localReply?: LocalReply;
  /** Set when this callback trapped. */
  failure?: WasmTrapError;
}

/** gRPC UNAVAILABLE, which Envoy attaches to wasm_fail_stream replies. */
const GRPC_UNAVAILABLE = 14;

type Phase = "new" | "request" | "response" | "log" | "ended";

export class HttpStream implements StreamAccess {
  readonly id: number;
  readonly requestHeaders = new HeaderMap();
  readonly requestTrailers = new HeaderMap();
  readonly responseHeaders = new HeaderMap();
  readonly responseTrailers = new HeaderMap();
  requestBody: Uint8Array = new Uint8Array(0);
  responseBody: Uint8Array = new Uint8Array(0);
  /** Properties Envoy knows about this stream: source.address, xds.cluster_name, response.*. */
  readonly properties: PropertyTree;
  /** Values the module stored with proxy_set_property (Envoy keeps them in filter state). */
  private readonly filterState: PropertyTree = {};
  /** The module changed request headers: Envoy clears the route cache for ABI 0.2.x. */
  routeCacheCleared = false;
  localReply: LocalReply | undefined;
  /** The module asked to reset the stream (proxy_close_stream). */
  closed = false;
  /** The module rewrote a body buffer (proxy_set_buffer_bytes) since the flag was last cleared. */
  readonly bodyMutated = { request: false, response: false };
  /** The module resumed a paused direction with proxy_continue_stream. */
  readonly resumed = { request: false, response: false };

  private phase: Phase = "new";
  private readonly open = new Set<MapType>(); // maps the running callback may write
  private bufferingRequest = false;
  private bufferingResponse = false;
  /** No filter for this stream: the VM had failed and the plugin fails open. */
  private readonly bypass: boolean;
  private pendingReply: (Omit<LocalReply, "headers" | "grpcStatus"> & { headers: [string, Uint8Array][]; grpcStatus: number }) | undefined;

  constructor(readonly vm: PluginVm, properties: PropertyTree = {}) {
    this.properties = properties;
    this.id = vm.allocateContextId();
    this.bypass = vm.failure !== undefined && vm.failOpen;
    if (vm.failure) return;
    vm.register(this);
    vm.call("proxy_on_context_create", this.id, this.id, vm.rootContextId);
  }

  // ---- driving the stream ------------------------------------------------------------------

  /** Envoy's decodeHeaders. */
  sendRequestHeaders(headers: HeaderInput, endOfStream = false): CallbackResult {
    this.expect("new", "request headers");
    this.phase = "request";
    this.requestHeaders.addAll(headers);
    return this.headersCallback("proxy_on_request_headers", MapType.HttpRequestHeaders, this.requestHeaders, endOfStream);
  }

  /** Envoy's decodeData: `chunk` is appended to what the module asked to buffer. */
  sendRequestBody(chunk: Uint8Array, endOfStream: boolean): CallbackResult {
    this.expect("request", "request body");
    this.requestBody = this.bufferingRequest ? concat(this.requestBody, chunk) : chunk;
    const r = this.invoke("proxy_on_request_body", DataStatus.Continue, this.requestBody.length, endOfStream ? 1 : 0);
    this.bufferingRequest = r.status === DataStatus.StopIterationAndBuffer || r.status === DataStatus.StopIterationAndWatermark;
    return r;
  }

  sendRequestTrailers(trailers: HeaderInput): CallbackResult {
    this.expect("request", "request trailers");
    this.requestTrailers.addAll(trailers);
    return this.headersCallback("proxy_on_request_trailers", MapType.HttpRequestTrailers, this.requestTrailers);
  }

  /** Envoy's encodeHeaders; `properties` may carry response.code / response.flags / xds.cluster_name. */
  sendResponseHeaders(headers: HeaderInput, endOfStream = false, properties?: PropertyTree): CallbackResult {
    if (this.phase === "new") throw new StreamStateError(`stream ${this.id}: response headers before request headers`);
    this.expect("request", "response headers");
    this.phase = "response";
    if (properties) this.setProperties(properties);
    this.responseHeaders.addAll(headers);
    return this.headersCallback("proxy_on_response_headers", MapType.HttpResponseHeaders, this.responseHeaders, endOfStream);
  }

  sendResponseBody(chunk: Uint8Array, endOfStream: boolean): CallbackResult {
    this.expect("response", "response body");
    this.responseBody = this.bufferingResponse ? concat(this.responseBody, chunk) : chunk;
    const r = this.invoke("proxy_on_response_body", DataStatus.Continue, this.responseBody.length, endOfStream ? 1 : 0);
    this.bufferingResponse = r.status === DataStatus.StopIterationAndBuffer || r.status === DataStatus.StopIterationAndWatermark;
    return r;
  }

  sendResponseTrailers(trailers: HeaderInput): CallbackResult {
    this.expect("response", "response trailers");
    this.responseTrailers.addAll(trailers);
    return this.headersCallback("proxy_on_response_trailers", MapType.HttpResponseTrailers, this.responseTrailers);
  }

  /**
   * The stream is over: Envoy writes the access log (on_log, with the final response.* and the
   * header maps readable), then destroys the filter (on_done, on_delete).
   */
  end(properties?: PropertyTree): void {
    if (this.phase === "ended") return;
    if (properties) this.setProperties(properties);
    this.phase = "log";
    if (!this.bypass && !this.vm.failure) {
      try {
        this.vm.call("proxy_on_log", this.id, this.id);
        this.vm.call("proxy_on_done", this.id, this.id);
        this.vm.call("proxy_on_delete", this.id, this.id);
      } catch (e) {
        if (!(e instanceof WasmTrapError)) throw e;
      }
    }
    this.phase = "ended";
    this.vm.unregister(this.id);
  }

  get ended(): boolean { return this.phase === "ended"; }

  setProperties(tree: PropertyTree, prefix: string[] = []): void {
    for (const [k, v] of Object.entries(tree)) {
      if (v === undefined) continue;
      if (typeof v === "object" && !(v instanceof Uint8Array)) this.setProperties(v, [...prefix, k]);
      else setProperty(this.properties, [...prefix, k], v as PropertyLeaf);
    }
  }

  // ---- internals ---------------------------------------------------------------------------

  private expect(phase: Phase, what: string): void {
    if (this.phase === "ended") throw new StreamStateError(`stream ${this.id}: ${what} after the stream ended`);
    if (this.phase === "new" && phase !== "new") throw new StreamStateError(`stream ${this.id}: ${what} before request headers`);
    if (phase === "new" && this.phase !== "new") throw new StreamStateError(`stream ${this.id}: ${what} sent twice`);
    if (phase === "request" && this.phase === "response") throw new StreamStateError(`stream ${this.id}: ${what} after response headers`);
  }

  private headersCallback(name: string, type: MapType, map: HeaderMap, endOfStream?: boolean): CallbackResult {
    this.open.add(type);
    const args = endOfStream === undefined ? [map.size] : [map.size, endOfStream ? 1 : 0];
    const r = this.invoke(name, HeadersStatus.Continue, ...args);
    // A map stays writable while its callback holds the stream (Stop...) until continue_stream.
    if (r.status === HeadersStatus.Continue || r.status === HeadersStatus.ContinueAndEndStream || r.localReply) this.open.delete(type);
    return r;
  }

  /** Runs one callback; applies a local reply or a trap the way Envoy does. */
  private invoke(name: string, passStatus: number, ...args: number[]): CallbackResult {
    if (this.bypass || this.localReply) return { status: passStatus, localReply: this.localReply };
    if (this.vm.failure) return this.failStream(this.vm.failure);
    let status: number;
    try {
      status = this.vm.call(name, this.id, this.id, ...args);
    } catch (e) {
      if (e instanceof WasmTrapError) return this.failStream(e);
      throw e;
    }
    if (this.pendingReply) {
      this.deliverLocalReply();
      // Envoy forces the callback to stop once a local reply was sent.
      return { status: name.endsWith("_body") ? DataStatus.StopIterationNoBuffer : HeadersStatus.StopAllIterationAndWatermark, localReply: this.localReply };
    }
    return { status };
  }

  private failStream(failure: WasmTrapError): CallbackResult {
    if (!this.localReply) {
      const headers = new HeaderMap([[":status", "503"], ["content-type", "text/plain"]]);
      this.localReply = { status: 503, details: "wasm_fail_stream", body: new Uint8Array(0), headers, grpcStatus: GRPC_UNAVAILABLE };
    }
    return { status: HeadersStatus.StopAllIterationAndWatermark, localReply: this.localReply, failure };
  }

  /**
   * Envoy sends the reply after the callback returns; it then passes through the encoder
   * filters, so the module's response callbacks see it (and may add headers to it).
   */
  private deliverLocalReply(): void {
    const p = this.pendingReply!;
    this.pendingReply = undefined;
    const headers = new HeaderMap([[":status", String(p.status)]]);
    if (p.body.length) {
      headers.add("content-length", String(p.body.length));
      headers.add("content-type", "text/plain");
    }
    for (const [k, v] of p.headers) headers.add(k, v);
    this.open.clear();
    this.phase = "response";
    setProperty(this.properties, ["response", "code"], p.status);
    setProperty(this.properties, ["response", "code_details"], p.details);
    this.responseHeaders.clear();
    this.responseHeaders.addAll(headers.entries.map((e) => [e.name, e.value] as const));
    this.responseBody = p.body;
    this.localReply = { ...p, headers: this.responseHeaders };
    if (p.grpcStatus > 16) delete this.localReply.grpcStatus;
    const reply = this.localReply;
    this.localReply = undefined; // let the encoder callbacks run
    this.open.add(MapType.HttpResponseHeaders);
    try {
      this.vm.call("proxy_on_response_headers", this.id, this.id, this.responseHeaders.size, p.body.length ? 0 : 1);
      if (p.body.length) this.vm.call("proxy_on_response_body", this.id, this.id, p.body.length, 1);
    } catch (e) {
      if (!(e instanceof WasmTrapError)) throw e;
    } finally {
      this.open.clear();
      this.pendingReply = undefined; // a second reply from the encoder path is ignored, as in Envoy
      this.localReply = reply;
    }
  }

  // ---- StreamAccess: what host calls may touch ---------------------------------------------

  map(type: MapType, write: boolean): HeaderMap | undefined {
    const m = this.mapOf(type);
    if (!m) return undefined;
    if (this.phase === "log") return write ? undefined : m; // access-log maps are read-only
    return this.open.has(type) ? m : undefined;
  }

  private mapOf(type: MapType): HeaderMap | undefined {
    switch (type) {
      case MapType.HttpRequestHeaders: return this.requestHeaders;
      case MapType.HttpRequestTrailers: return this.requestTrailers;
      case MapType.HttpResponseHeaders: return this.responseHeaders;
      case MapType.HttpResponseTrailers: return this.responseTrailers;
      default: return undefined;
    }
  }

  buffer(type: BufferType): Uint8Array | undefined {
    return type === BufferType.HttpRequestBody ? this.requestBody : this.responseBody;
  }

  setBuffer(type: BufferType, start: number, length: number, data: Uint8Array): WasmResult {
    const cur = this.buffer(type)!;
    let next: Uint8Array;
    if (start === 0) next = concat(data, cur.subarray(Math.min(length, cur.length)));
    else if (start >= cur.length) next = concat(cur, data);
    else return WasmResult.BadArgument;
    if (type === BufferType.HttpRequestBody) {
      this.requestBody = next;
      this.bodyMutated.request = true;
    } else {
      this.responseBody = next;
      this.bodyMutated.response = true;
    }
    return WasmResult.Ok;
  }

  property(path: string[]) {
    return lookupProperty(path, this.filterState, this.properties, this.vm.properties);
  }

  setProperty(path: string[], value: Uint8Array): WasmResult {
    if (path.length === 0) return WasmResult.BadArgument;
    setProperty(this.filterState, path, value);
    return WasmResult.Ok;
  }

  sendLocalReply(status: number, details: string, body: Uint8Array, headers: [string, Uint8Array][], grpcStatus: number): void {
    if (this.localReply || this.pendingReply) return; // Envoy sends one local reply per stream
    this.pendingReply = { status, details, body, headers, grpcStatus };
  }

  continueStream(type: StreamType): WasmResult {
    if (type === StreamType.Request) {
      this.resumed.request = true;
      this.open.delete(MapType.HttpRequestHeaders);
    } else {
      this.resumed.response = true;
      this.open.delete(MapType.HttpResponseHeaders);
    }
    return WasmResult.Ok;
  }

  closeStream(_type: StreamType): WasmResult {
    this.closed = true;
    return WasmResult.Ok;
  }

  headersModified(type: MapType): void {
    if (type === MapType.HttpRequestHeaders) this.routeCacheCleared = true;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

