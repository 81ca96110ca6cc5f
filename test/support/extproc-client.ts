// A real gRPC ext_proc client that speaks the protocol the way Envoy does: one stream per HTTP
// request, header values in raw_value, request headers first, then response headers.
import * as grpc from "@grpc/grpc-js";
import { extProcService } from "../../extproc/sidecar/protocol.js";

const Client = grpc.makeGenericClientConstructor(extProcService(), "ExternalProcessor");

export type Headers = [string, string][];
export interface Mutation { set_headers?: { header: { key: string; value?: string; raw_value?: Buffer }; append?: { value: boolean } }[]; remove_headers?: string[] }
export type Response = Record<string, any>;

export const headerProto = (h: Headers) => ({ headers: h.map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) });
export const str = (v: string) => ({ kind: "stringValue", stringValue: v });
export const num = (v: number) => ({ kind: "numberValue", numberValue: v });
export const struct = (fields: Record<string, unknown>) => ({ fields });
/** Envoy's attributes map: filter name -> Struct of attribute name -> value. */
export const attrs = (fields: Record<string, unknown>) => ({ "envoy.filters.http.ext_proc": struct(fields) });

/** Applies a HeaderMutation the way Envoy does (raw_value only; overwrite unless append). */
export function apply(headers: Headers, m: Mutation | undefined): Headers {
  let out = [...headers];
  for (const name of m?.remove_headers ?? []) out = out.filter(([k]) => k !== name);
  for (const o of m?.set_headers ?? []) {
    const key = o.header.key;
    const value = Buffer.from(o.header.raw_value ?? "").toString();
    if (o.header.value) throw new Error(`mutation of ${key} fills value: Envoy would read an empty header`);
    if (o.append?.value) out.push([key, value]);
    else {
      out = out.filter(([k]) => k !== key);
      out.push([key, value]);
    }
  }
  return out;
}

export class EnvoyLikeClient {
  readonly client: grpc.Client;
  constructor(port: number) {
    // Each client has its own HTTP/2 connection, as each Envoy (or each connection of Envoy's pool)
    // has; grpc-js would otherwise share one connection among all clients of one address.
    this.client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  }

  /** A raw stream for protocol tests: send messages, await answers in order. */
  open(): Stream {
    return new Stream((this.client as any).Process());
  }

  /** One HTTP request the way Envoy's header-only processing does it. */
  async exchange(request: Headers, response: Headers, opts: { requestAttributes?: object; responseAttributes?: object } = {}) {
    const s = this.open();
    const req = await s.send({ request_headers: { headers: headerProto(request), end_of_stream: true }, attributes: opts.requestAttributes });
    const upstreamRequest = req.immediate_response ? undefined : apply(request, req.request_headers?.response?.header_mutation);
    let resp: Response | undefined;
    let downstreamResponse: Headers | undefined;
    if (!req.immediate_response) {
      resp = await s.send({ response_headers: { headers: headerProto(response), end_of_stream: true }, attributes: opts.responseAttributes });
      downstreamResponse = apply(response, resp.response_headers?.response?.header_mutation);
    }
    await s.close();
    return { req, resp, upstreamRequest, downstreamResponse };
  }

  close(): void { this.client.close(); }
}

export class Stream {
  private readonly answers: Response[] = [];
  private readonly waiting: ((r: Response) => void)[] = [];
  error: grpc.ServiceError | undefined;
  /** The server ended the stream (with any status). */
  closed = false;
  private ended: Promise<void>;

  constructor(readonly call: grpc.ClientDuplexStream<object, Response>) {
    call.on("data", (r: Response) => {
      const w = this.waiting.shift();
      if (w) w(r);
      else this.answers.push(r);
    });
    this.ended = new Promise((resolve) => {
      call.on("error", (e: grpc.ServiceError) => {
        this.error = e;
        for (const w of this.waiting.splice(0)) w({ error: e });
        resolve();
      });
      // The sidecar ends a stream itself (OK) once it needs nothing more: reads still waiting get `ended`.
      const ended = () => {
        this.closed = true;
        for (const w of this.waiting.splice(0)) w({ ended: true });
        resolve();
      };
      call.on("end", ended);
      call.on("status", ended);
    });
  }

  send(message: object): Promise<Response> {
    this.call.write(message);
    return this.next();
  }

  next(): Promise<Response> {
    const r = this.answers.shift();
    if (r) return Promise.resolve(r);
    if (this.error) return Promise.resolve({ error: this.error });
    if (this.closed) return Promise.resolve({ ended: true });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Half-closes (Envoy's end of the HTTP stream) and waits for the server to finish. */
  async close(): Promise<void> {
    this.call.end();
    await this.ended;
  }

  cancel(): void { this.call.cancel(); }
}
