// One HTTP stream through a PluginVm, driven in Envoy's order: request headers, body, trailers,
// response headers, body, trailers, then on_log, on_done, on_delete. It enforces Envoy's rules
// on what the module may touch in each callback (request headers only while they are being
// processed, read-only maps in on_log), applies local replies the way Envoy's filter manager
// does, and turns a trap into Envoy's outcome for the stream: cpp-host's CHECK_FAIL answers an
// open stream with one 503 wasm_fail_stream, or lets it pass untouched (every later callback
// Continue, on_log/on_done skipped) when the plugin's legacy fail_open is set. A stream begun on
// an already failed VM gets what Envoy's PluginConfig::createContext gives it: no filter under
// FAIL_OPEN, else a context that fails it (failure-policy.ts rebuilds the VM for FAIL_RELOAD).

import { BufferType, DataStatus, HeadersStatus, MapType, StreamType, TrailersStatus, WasmResult } from "./abi.js";
import { StreamStateError, WasmTrapError } from "./errors.js";
import type { StreamAccess, StreamOwner } from "./access.js";
import { HeaderInput, HeaderMap } from "./headers.js";
import { type HeaderEditor, type LocalReply, MutationRecorder, type Mutations, NO_MUTATIONS } from "./mutations.js";
import { type PropertyTree, lookupFilterState, lookupProperty, mergeProperties, setProperty } from "./properties.js";

export type { LocalReply } from "./mutations.js";

export interface CallbackResult {
  /** What the callback returned, as Envoy acts on it (HeadersStatus / DataStatus / TrailersStatus). */
  status: number;
  /** What the module changed since the previous result: headers, route cache, bodies, local reply. */
  mutations: Mutations;
  /** Set when the module (or a VM failure) answered the request itself (as mutations.localReply). */
  localReply?: LocalReply;
  /** Set when this callback trapped. */
  failure?: WasmTrapError;
}

type CallbackKind = "headers" | "body" | "trailers";

/** cpp-host convertVmCallResultTo*: what Envoy does with the number a callback returned. */
function convertStatus(kind: CallbackKind, result: number, stopped: boolean): number {
  if (kind === "headers") {
    // StopIteration is not allowed by default (allow_on_headers_stop_iteration): it stops all.
    if (stopped || result > HeadersStatus.StopAllIterationAndWatermark || result === HeadersStatus.StopIteration) return HeadersStatus.StopAllIterationAndWatermark;
    return result;
  }
  if (kind === "body") return stopped || result > DataStatus.StopIterationNoBuffer ? DataStatus.StopIterationNoBuffer : result;
  return stopped || result > TrailersStatus.StopIteration ? TrailersStatus.StopIteration : result;
}

/** The body before any arrived (empty; nothing writes into a buffer in place). */
const NO_BYTES = new Uint8Array(0);

/** gRPC UNAVAILABLE, which Envoy attaches to wasm_fail_stream replies. */
const GRPC_UNAVAILABLE = 14;

type Phase = "new" | "request" | "response" | "log" | "ended";

/** One HTTP stream through a VM; PluginVm.createStream makes one. */
export class HttpStream implements StreamAccess {
  readonly requestHeaders = new HeaderMap();
  readonly responseHeaders = new HeaderMap();
  requestBody: Uint8Array = NO_BYTES;
  responseBody: Uint8Array = NO_BYTES;
  /** Properties Envoy knows about this stream: source.address, xds.cluster_name, response.*. */
  readonly properties: PropertyTree;
  /** Values the module stored with proxy_set_property, by raw path (Envoy: filter state "wasm.<path>"); made on first use. */
  private filterState: Map<string, Uint8Array> | undefined;
  // Trailers are rare: their maps are made when first asked for.
  private requestTrailerMap: HeaderMap | undefined;
  private responseTrailerMap: HeaderMap | undefined;
  /** The module changed request headers at some point: Envoy clears the route cache for ABI 0.2.x. */
  routeCacheCleared = false;
  localReply: LocalReply | undefined;
  /** The module asked to reset the stream (proxy_close_stream). */
  closed = false;
  /** The module resumed a paused direction with proxy_continue_stream. */
  readonly resumed = { request: false, response: false };

  private phase: Phase = "new";
  private open = 0; // the maps the running callback may write: a bit per MapType
  private bufferingRequest = false;
  private bufferingResponse = false;
  private recorder: MutationRecorder | undefined; // made at the first write: most callbacks write nothing
  /** The module's response headers callback let them go downstream (a later reply cannot replace them). */
  private responseHeadersSent = false;
  private pendingReply: (Omit<LocalReply, "headers" | "grpcStatus"> & { headers: [string, Uint8Array][]; grpcStatus: number }) | undefined;

  /**
   * Only the VM makes streams (PluginVm.createStream: it also creates the module's context).
   * `bypass`: no filter for this stream (the VM had failed and the policy is FAIL_OPEN).
   */
  constructor(readonly vm: StreamOwner, readonly id: number, properties: PropertyTree, private readonly bypass: boolean) {
    this.properties = properties;
  }

  get requestTrailers(): HeaderMap { return (this.requestTrailerMap ??= new HeaderMap()); }
  get responseTrailers(): HeaderMap { return (this.responseTrailerMap ??= new HeaderMap()); }

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
    const r = this.invoke("proxy_on_request_body", "body", this.requestBody.length, endOfStream ? 1 : 0);
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
    const r = this.invoke("proxy_on_response_body", "body", this.responseBody.length, endOfStream ? 1 : 0);
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

  /** Sets each leaf of `tree` (under `prefix`) in the stream's properties. */
  setProperties(tree: PropertyTree, prefix: string[] = []): void {
    mergeProperties(this.properties, prefix.length ? prefix.reduceRight<PropertyTree>((t, seg) => ({ [seg]: t }), tree) : tree);
  }

  // ---- internals ---------------------------------------------------------------------------

  private expect(phase: Phase, what: string): void {
    if (this.phase === "ended") throw new StreamStateError(`stream ${this.id}: ${what} after the stream ended`);
    if (this.phase === "new" && phase !== "new") throw new StreamStateError(`stream ${this.id}: ${what} before request headers`);
    if (phase === "new" && this.phase !== "new") throw new StreamStateError(`stream ${this.id}: ${what} sent twice`);
    if (phase === "request" && this.phase === "response") throw new StreamStateError(`stream ${this.id}: ${what} after response headers`);
  }

  private headersCallback(name: string, type: MapType, map: HeaderMap, endOfStream?: boolean): CallbackResult {
    this.open |= 1 << type;
    const kind: CallbackKind = endOfStream === undefined ? "trailers" : "headers";
    const args = endOfStream === undefined ? [map.size] : [map.size, endOfStream ? 1 : 0];
    const r = this.invoke(name, kind, ...args);
    // A map stays writable while its callback holds the stream (Stop...) until continue_stream.
    const goes = r.status === HeadersStatus.Continue || r.status === HeadersStatus.ContinueAndEndStream;
    if (goes || r.localReply) this.open &= ~(1 << type);
    if (goes && type === MapType.HttpResponseHeaders) this.responseHeadersSent = true;
    return r;
  }

  /** Runs one callback; applies a local reply or a trap the way Envoy does. */
  private invoke(name: string, kind: CallbackKind, ...args: number[]): CallbackResult {
    if (this.bypass || this.localReply || this.closed) return this.result(0 /* Continue */);
    if (this.vm.failure) return this.checkFail(kind);
    const encoding = this.phase === "response";
    let status: number;
    try {
      status = this.vm.call(name, this.id, this.id, ...args);
    } catch (e) {
      if (e instanceof WasmTrapError) return { ...this.checkFail(kind), failure: e };
      throw e;
    }
    if (this.pendingReply) {
      this.deliverLocalReply(encoding);
      // Envoy forces the callback to stop once a local reply was sent.
      return this.result(convertStatus(kind, status, true));
    }
    return this.result(convertStatus(kind, status, false));
  }

  /** A callback's result: its status and what the module changed since the previous result. */
  private result(status: number): CallbackResult {
    const localReply = this.localReply;
    return { status, mutations: this.takeMutations(localReply), localReply };
  }

  private takeMutations(localReply?: LocalReply): Mutations {
    return this.recorder ? this.recorder.take(localReply) : localReply ? new MutationRecorder().take(localReply) : NO_MUTATIONS;
  }

  /**
   * cpp-host CHECK_FAIL on a failed VM: with the plugin's fail_open the callback returns its
   * open result (Continue, no reply); otherwise the stream gets one 503 wasm_fail_stream and the
   * closed result.
   */
  private checkFail(kind: CallbackKind): CallbackResult {
    if (this.vm.failOpen) return { status: 0 /* Continue */, mutations: this.takeMutations() };
    if (!this.localReply) {
      const headers = new HeaderMap([[":status", "503"], ["content-type", "text/plain"]]);
      this.localReply = { status: 503, details: "wasm_fail_stream", body: new Uint8Array(0), headers, grpcStatus: GRPC_UNAVAILABLE };
    }
    return this.result(convertStatus(kind, 0, true));
  }

  /**
   * Envoy sends the reply after the callback returns. From a decoder callback it passes through
   * the encoder filters, so the module's response callbacks see it (and may add headers to it).
   * From an encoder callback Envoy's filter manager sends it directly (the filter is not entered
   * again), or resets the stream when the response headers already went downstream.
   */
  private deliverLocalReply(fromEncoder: boolean): void {
    const p = this.pendingReply!;
    if (fromEncoder && this.responseHeadersSent) {
      this.pendingReply = undefined;
      this.closed = true;
      return;
    }
    this.pendingReply = undefined;
    const headers = new HeaderMap([[":status", String(p.status)]]);
    if (p.body.length) {
      headers.add("content-length", String(p.body.length));
      headers.add("content-type", "text/plain");
    }
    for (const [k, v] of p.headers) headers.add(k, v);
    this.open = 0;
    this.phase = "response";
    setProperty(this.properties, ["response", "code"], p.status);
    setProperty(this.properties, ["response", "code_details"], p.details);
    this.responseHeaders.clear();
    this.responseHeaders.addAll(headers);
    this.responseBody = p.body;
    this.localReply = { ...p, headers: this.responseHeaders };
    if (p.grpcStatus > 16) delete this.localReply.grpcStatus;
    if (fromEncoder) return;
    const reply = this.localReply;
    this.localReply = undefined; // let the encoder callbacks run
    this.open = 1 << MapType.HttpResponseHeaders;
    try {
      this.vm.call("proxy_on_response_headers", this.id, this.id, this.responseHeaders.size, p.body.length ? 0 : 1);
      if (p.body.length) this.vm.call("proxy_on_response_body", this.id, this.id, p.body.length, 1);
    } catch (e) {
      if (!(e instanceof WasmTrapError)) throw e;
    } finally {
      this.open = 0;
      this.pendingReply = undefined; // a second reply from the encoder path is ignored, as in Envoy
      this.localReply = reply;
    }
  }

  // ---- StreamAccess: what host calls may touch ---------------------------------------------

  map(type: MapType, write: boolean): HeaderMap | undefined {
    const m = this.mapOf(type);
    if (!m) return undefined;
    if (this.phase === "log") {
      // Envoy's access log hands over request headers, response headers and trailers, read only;
      // it has no request trailers.
      return write || type === MapType.HttpRequestTrailers ? undefined : m;
    }
    return this.open & (1 << type) ? m : undefined;
  }

  edit(type: MapType): HeaderEditor | undefined {
    const m = this.map(type, true);
    if (!m) return undefined;
    if (type === MapType.HttpRequestHeaders) this.routeCacheCleared = true;
    return (this.recorder ??= new MutationRecorder()).editor(type, m);
  }

  get inLogPhase(): boolean { return this.phase === "log"; }

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
    if (type === BufferType.HttpRequestBody) this.requestBody = next;
    else this.responseBody = next;
    (this.recorder ??= new MutationRecorder()).body(type, next);
    return WasmResult.Ok;
  }

  /** Envoy's order: the stream's attributes, then the VM's (xds, plugin_*), then filter state. */
  property(path: readonly string[]) {
    const found = lookupProperty(path, this.properties, this.vm.properties);
    return found.result === WasmResult.NotFound && this.filterState ? lookupFilterState(path, this.filterState) : found;
  }

  setProperty(rawPath: string, value: Uint8Array): WasmResult {
    (this.filterState ??= new Map()).set(rawPath, value);
    return WasmResult.Ok;
  }

  sendLocalReply(status: number, details: string, body: Uint8Array, headers: [string, Uint8Array][], grpcStatus: number): void {
    if (this.localReply || this.pendingReply) return; // Envoy sends one local reply per stream
    this.pendingReply = { status, details, body, headers, grpcStatus };
  }

  /**
   * Envoy's Context::continueStream resumes the direction asked for, and for either direction
   * drops its pointers to the request side only (headers, body, trailers): response maps stay
   * writable.
   */
  continueStream(type: StreamType): WasmResult {
    if (type === StreamType.Request) this.resumed.request = true;
    else this.resumed.response = true;
    this.open &= ~((1 << MapType.HttpRequestHeaders) | (1 << MapType.HttpRequestTrailers));
    return WasmResult.Ok;
  }

  closeStream(_type: StreamType): WasmResult {
    this.closed = true;
    return WasmResult.Ok;
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

