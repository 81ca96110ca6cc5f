// One ext_proc stream is one HTTP request: its messages drive one stream context of the hosted
// filter in Envoy's order, and each gets the answer Envoy expects (a HeadersResponse with the
// filter's header mutation, a BodyResponse, a TrailersResponse, or an ImmediateResponse when the
// filter replies locally). When the gRPC stream ends, the request is over: the filter's on_log
// runs with the response Envoy reported, so its health view learns from the outcome.
//
// The sidecar ends each stream itself (status OK) as soon as nothing more is needed: Envoy's
// ext_proc takes a server-side OK close as "processing complete" and ignores the stream for the
// rest of the request (ext_proc.cc Filter::onGrpcClose; test/data/ENVOY-HOST-NOTES.md). In the
// header-only form that is right after the response-headers answer, so a stream holds a slot only
// while its upstream request is in flight; a stream open longer than streamTimeoutMs is ended too.

import type * as grpc from "@grpc/grpc-js";
import {
  BufferType, type CallbackResult, type HeaderMap, type HttpStream, MapType, type PropertyTree, StreamStateError,
} from "../host/index.js";
import { encodeHeadersAnswer, prepared } from "./codec.js";
import type { ExpiryQueue } from "./expiry.js";
import type { FilterPool } from "./filter-pool.js";
import type { Logger } from "./logger.js";
import {
  type ProcessingRequest, type ProcessingResponse, type ProtoHeaderMap,
  attributesToProperties, fromStruct, headerBytes, headerMutation, headerSets, nodeLocality, toHeaderMap,
} from "./protocol.js";
import type { SidecarMetrics } from "./prometheus.js";
import { ResponseFlag } from "../module/contract.js";

/** Envoy's DownstreamConnectionTermination flag: the stream ended with no response. */
const FLAG_DC = ResponseFlag.DC;

export type ExtProcCall = grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse | Buffer>;

/** The answers to headers the filter left as they were, encoded once (most response headers). */
const UNCHANGED = {
  request_headers: prepared({ request_headers: { response: {} } }),
  response_headers: prepared({ response_headers: { response: {} } }),
};

export interface ProcessorLimits {
  /** Largest header (or trailer) set accepted, in bytes of names and values. */
  maxHeaderBytes: number;
  /** Most header (or trailer) entries accepted in one set. */
  maxHeaderCount: number;
  /** A stream still open this long (ms) is ended with OK and counted (0: never). */
  streamTimeoutMs: number;
}

export class StreamProcessor {
  private stream: HttpStream | undefined;
  private responseSeen = false;
  /** A body or trailer message came before the response headers: Envoy sends more than headers. */
  private bodiesSeen = false;
  private finished = false;
  private ended = false;
  /** The filter answered the request itself (ImmediateResponse): Envoy needs nothing more. */
  private replied = false;
  private readonly properties: PropertyTree = {};

  constructor(
    private readonly call: ExtProcCall,
    private readonly pool: FilterPool,
    private readonly metrics: SidecarMetrics,
    private readonly logger: Logger,
    private readonly limits: ProcessorLimits,
    /** Ends streams open longer than limits.streamTimeoutMs (absent: never). */
    private readonly expiry: ExpiryQueue<StreamProcessor> | undefined,
    private readonly onDone: () => void,
  ) {
    call.on("data", (m: ProcessingRequest) => this.onMessage(m));
    call.on("end", () => this.complete());
    call.on("cancelled", () => this.finish());
    call.on("error", () => this.finish());
    expiry?.add(this);
  }

  /** Every answer is written (each is answered as it arrives): end the stream with OK. */
  private complete(details?: string): void {
    this.finish();
    if (this.ended) return;
    this.ended = true;
    // grpc-js sends the status of an error emitted on the call; code 0 is OK, with our details.
    if (details) this.call.emit("error", { code: 0, details });
    else this.call.end();
  }

  /** Called by the expiry queue when the stream outlived --stream-timeout. */
  expire(): void {
    if (this.finished) return;
    this.metrics.expired.inc();
    const details = `stream open ${this.limits.streamTimeoutMs} ms (--stream-timeout) with nothing left to answer: processing ended`;
    this.logger.log("debug", "ext_proc stream expired", { ms: this.limits.streamTimeoutMs });
    this.complete(details);
  }

  /** After this answer Envoy needs nothing more from this stream. */
  private done(m: ProcessingRequest): boolean {
    if (this.replied) return true; // Envoy closes its side too: the request is answered
    if (m.request !== "response_headers") return false;
    return !this.bodiesSeen || (m.response_headers?.end_of_stream ?? false);
  }

  private onMessage(m: ProcessingRequest): void {
    if (this.finished) return;
    const kind = m.request ?? "unknown";
    this.metrics.countMessage(kind);
    try {
      const answer = this.handle(m);
      if (!m.observability_mode) this.call.write(answer);
      if (this.done(m)) this.complete();
    } catch (e) {
      const invalid = e instanceof StreamStateError || e instanceof ProtocolError;
      const code = e instanceof LimitError ? 8 /* RESOURCE_EXHAUSTED */ : invalid ? 3 /* INVALID_ARGUMENT */ : 13 /* INTERNAL */;
      this.metrics.errors.inc({ kind: e instanceof LimitError ? "limit" : invalid ? "protocol" : "internal" });
      this.logger.log(invalid || e instanceof LimitError ? "warn" : "error", "ext_proc stream refused", { message: kind, error: (e as Error).message });
      this.finish();
      this.ended = true;
      // grpc-js ends a server stream with a status when the call emits it as an error.
      this.call.emit("error", { code, details: (e as Error).message });
    }
  }

  private handle(m: ProcessingRequest): ProcessingResponse | Buffer {
    if (m.malformed) throw new ProtocolError(m.malformed);
    if (m.request !== "request_headers" && m.request !== "response_headers") this.bodiesSeen = true;
    if (m.attributes) attributesToProperties(m.attributes, this.properties);
    if (m.metadata_context?.filter_metadata) {
      const fm: PropertyTree = {};
      for (const [ns, s] of Object.entries(m.metadata_context.filter_metadata)) fm[ns] = fromStruct(s) as PropertyTree;
      this.properties.metadata = { filter_metadata: fm };
    }
    switch (m.request) {
      case "request_headers": {
        if (this.stream) throw new ProtocolError("request_headers sent twice on one stream");
        const headers = this.checkedHeaders(m.request_headers?.headers);
        const started = performance.now();
        const vm = this.pool.vmFor(nodeLocality(this.properties));
        identifyEnvoy(this.properties, this.call);
        this.stream = vm.createStream(this.properties);
        const r = this.stream.sendRequestHeaders(headers, m.request_headers?.end_of_stream ?? false);
        this.metrics.decisionSeconds.observe((performance.now() - started) / 1e3);
        return this.headersAnswer("request_headers", r, MapType.HttpRequestHeaders);
      }
      case "response_headers": {
        const s = this.started("response_headers");
        const headers = this.checkedHeaders(m.response_headers?.headers);
        const status = Number(headers.get(":status"));
        const response = (this.properties.response ??= {}) as PropertyTree;
        if (response.code === undefined && Number.isInteger(status)) response.code = status;
        this.responseSeen = true;
        const r = s.sendResponseHeaders(headers, m.response_headers?.end_of_stream ?? false);
        return this.headersAnswer("response_headers", r, MapType.HttpResponseHeaders);
      }
      case "request_body":
      case "response_body": {
        const s = this.started(m.request);
        const body = m[m.request];
        const request = m.request === "request_body";
        const chunk = body?.body ?? new Uint8Array(0);
        const eos = body?.end_of_stream ?? false;
        const r = request ? s.sendRequestBody(chunk, eos) : s.sendResponseBody(chunk, eos);
        if (r.localReply) return this.immediate(r);
        const common: Record<string, unknown> = {};
        const rewritten = r.mutations.bodies.get(request ? BufferType.HttpRequestBody : BufferType.HttpResponseBody);
        if (rewritten) common.body_mutation = { body: Buffer.from(rewritten) };
        return { [m.request]: { response: common } };
      }
      case "request_trailers":
      case "response_trailers": {
        const s = this.started(m.request);
        const trailers = this.checkedHeaders(m[m.request]?.trailers);
        const request = m.request === "request_trailers";
        const r = request ? s.sendRequestTrailers(trailers) : s.sendResponseTrailers(trailers);
        if (r.localReply) return this.immediate(r);
        const changes = r.mutations.headers.get(request ? MapType.HttpRequestTrailers : MapType.HttpResponseTrailers);
        return { [m.request]: { header_mutation: headerMutation(changes ?? []) } };
      }
      default:
        throw new ProtocolError(`unknown ext_proc message (no request_headers, response_headers, body or trailers set)`);
    }
  }

  /** The answer to a headers message, from what the filter's callback changed (its mutations). */
  private headersAnswer(kind: "request_headers" | "response_headers", r: CallbackResult, type: MapType): ProcessingResponse | Buffer {
    if (r.failure) this.metrics.errors.inc({ kind: "filter_trap" });
    if (r.localReply) return this.immediate(r);
    const changes = r.mutations.headers.get(type);
    // Every change is a removal or at least one value: no changes, no mutation.
    if (!changes || changes.length === 0) return UNCHANGED[kind];
    // The route reads the routing header: Envoy must pick the route again after we changed it.
    return encodeHeadersAnswer(kind, changes, kind === "request_headers" && r.mutations.routeCacheCleared);
  }

  private immediate(r: CallbackResult): ProcessingResponse {
    const reply = r.localReply!;
    this.replied = true;
    this.metrics.localReplies.inc();
    const answer: Record<string, unknown> = {
      status: { code: reply.status },
      headers: headerSets(reply.headers, ":status"),
      body: Buffer.from(reply.body),
      details: reply.details,
    };
    if (reply.grpcStatus !== undefined) answer.grpc_status = { status: reply.grpcStatus };
    return { immediate_response: answer };
  }

  private started(what: string): HttpStream {
    if (!this.stream) throw new ProtocolError(`${what} before request_headers`);
    return this.stream;
  }

  private checkedHeaders(proto: ProtoHeaderMap | null | undefined): HeaderMap {
    const count = proto?.headers?.length ?? 0;
    if (count > this.limits.maxHeaderCount) throw new LimitError(`header set of ${count} headers exceeds the limit of ${this.limits.maxHeaderCount}`);
    const bytes = headerBytes(proto);
    if (bytes > this.limits.maxHeaderBytes) throw new LimitError(`header set of ${bytes} bytes exceeds the limit of ${this.limits.maxHeaderBytes}`);
    return toHeaderMap(proto);
  }

  /** The HTTP request is over (or abandoned): run the filter's log phase once. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.expiry?.delete(this);
    this.onDone();
    const s = this.stream;
    if (!s || s.ended) return;
    try {
      s.end(this.responseSeen ? undefined : { response: { flags: FLAG_DC } });
    } catch (e) {
      this.logger.log("error", "filter log phase failed", { error: (e as Error).message });
    }
  }
}

/**
 * The filter tells failing sources apart (health.outlierDetection.minSources) by source.address,
 * else by xds.node.id; an Envoy that sends neither is one source, named by its gRPC peer's address.
 */
function identifyEnvoy(props: PropertyTree, call: ExtProcCall): void {
  const source = props.source as PropertyTree | undefined;
  const xds = (props.xds ??= {}) as PropertyTree;
  const node = (xds.node ??= {}) as PropertyTree;
  if (source?.address === undefined && node.id === undefined) node.id = peerSource(call.getPeer());
}

// The last peer's name: streams come in runs from one connection, so the text is made once a run.
let lastPeer = "";
let lastPeerSource = "";

/** A gRPC peer ("host:port") as a source name, without the port: each Envoy worker holds its own connection, and they are one Envoy. */
function peerSource(peer: string): string {
  if (peer !== lastPeer) {
    lastPeer = peer;
    lastPeerSource = `grpc-peer:${peer.replace(/:\d+$/, "")}`;
  }
  return lastPeerSource;
}

/** A message Envoy would never send in this order or shape. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** Input over a documented limit. */
export class LimitError extends Error {
  override name = "LimitError";
}
