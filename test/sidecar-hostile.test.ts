// Hostile clients against the ext_proc sidecar, over real gRPC and raw HTTP/2 on loopback, each
// attack bounded in count and time (issue 11, items 1, 2 and 9): stream slots held for ever,
// idle and silent connections, PING floods, rapid cancellation, malformed protobuf.
import { spawn } from "node:child_process";
import { connect as http2Connect, constants as h2 } from "node:http2";
import { type Socket, connect } from "node:net";
import { describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { extProcService } from "../extproc/sidecar/protocol.js";
import type { Sidecar } from "../extproc/sidecar/server.js";
import { EnvoyLikeClient, type Headers, attrs, headerProto, num } from "./support/extproc-client.js";
import { sidecarHarness } from "./support/sidecar-harness.js";
import { eventually, within } from "./support/wait.js";
import { PROBE_WASM, root } from "./support/wasm.js";

const policy = {
  clusters: [{ name: "cluster-1", region: "region-1", zone: "a", hosts: ["svc.example.com"] }],
  routes: [{ name: "svc", match: { authority: "svc.example.com" }, destination: { mode: "auto" } }],
};
const request: Headers = [[":method", "GET"], [":path", "/"], [":authority", "svc.example.com"], [":scheme", "http"]];
const ok: Headers = [[":status", "200"]];
const start = sidecarHarness({ policy: JSON.stringify(policy), drainMs: 200, locality: { region: "region-1", zone: "a" } });
const TIMEOUT = 120_000;
const active = async (s: Sidecar) => (await s.metrics.active.get()).values[0].value;
const routed = async (c: EnvoyLikeClient) => {
  const { upstreamRequest } = await within(c.exchange(request, ok), 10_000, "a normal exchange");
  return upstreamRequest?.find(([k]) => k === "x-failover-upstream")?.[1];
};
/** The status a stream ended with, seen by the client (code and details, OK included). */
const statusOf = (call: grpc.ClientDuplexStream<any, any>) =>
  new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));

// ---- raw HTTP/2 frames, for clients that do what no grpc-js client would ----------------------

const frame = (type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)) => {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
};
const PREFACE = Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(4, 0, 0)]);
const PING = frame(6, 0, 0, Buffer.alloc(8));
/** Reads frames off a raw socket: counts PING ACKs, keeps the GOAWAY (code, last stream id). */
function frameReader(socket: Socket) {
  const seen = { pingAcks: 0, goaway: undefined as { code: number; lastStreamId: number } | undefined, closed: false };
  let buf = Buffer.alloc(0);
  socket.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      if (buf[3] === 6 && buf[4] & 1) seen.pingAcks++;
      if (buf[3] === 7) seen.goaway = { lastStreamId: buf.readUInt32BE(9) & 0x7fffffff, code: buf.readUInt32BE(13) };
      buf = buf.subarray(9 + len);
    }
  });
  socket.on("close", () => (seen.closed = true));
  socket.on("error", () => {});
  return seen;
}
const rawConnection = (port: number) => new Promise<Socket>((resolve) => {
  const s = connect(port, "127.0.0.1", () => resolve(s));
});

describe("stream slots (item 1)", () => {
  it("ends each stream itself (OK) right after the response-headers answer, having learnt the outcome", async () => {
    const { sidecar, client } = await start();
    const s = client().open();
    const status = statusOf(s.call);
    await s.send({ request_headers: { headers: headerProto(request), end_of_stream: true } });
    expect(await active(sidecar)).toBe(1); // in flight while the upstream request is
    const answer = await s.send({ response_headers: { headers: headerProto(ok), end_of_stream: false }, attributes: attrs({ "response.code": num(200) }) });
    expect(answer.response_headers).toBeDefined();
    // The client never half-closed: the sidecar ended the stream, and Envoy takes OK as
    // "processing complete" (ext_proc.cc Filter::onGrpcClose; test/data/ENVOY-HOST-NOTES.md).
    expect(await within(s.next(), 5000, "stream end")).toEqual({ ended: true });
    expect((await within(status, 5000, "status")).code).toBe(grpc.status.OK);
    expect(await active(sidecar)).toBe(0);
    sidecar.pool.tick();
    const plan = sidecar.pool.plans()[0].plan as { clusters: { requests: number; failures: number }[] };
    expect(plan.clusters[0]).toMatchObject({ requests: 1, failures: 0 }); // on_log ran with the 200
  });

  it("ends a stream after an ImmediateResponse too (Envoy needs nothing more)", async () => {
    const { sidecar, client } = await start({ modulePath: PROBE_WASM, policy: "{}" });
    const s = client().open();
    const first = await s.send({ request_headers: { headers: headerProto([...request, ["x-probe", "reply:429=slow down"]]), end_of_stream: true } });
    expect(first.immediate_response).toBeDefined();
    expect(await within(s.next(), 5000, "stream end")).toEqual({ ended: true });
    expect(await active(sidecar)).toBe(0);
  });

  it("10,000 streams on one connection that send request_headers and never half-close no longer starve a normal client", async () => {
    // The defaults: --max-streams 10000, --max-streams-per-connection 1000.
    const { sidecar, client } = await start();
    const attacker = client();
    const held = Array.from({ length: 10_000 }, () => attacker.open());
    for (const s of held) s.call.write({ request_headers: { headers: headerProto(request), end_of_stream: true } });
    // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: the attacker's connection gets 1,000 slots; its other
    // streams wait on its own side (an Envoy would open another connection instead).
    await eventually(async () => (await active(sidecar)) === 1000, 30_000, "the attacker holds its connection's share");
    const normal = client();
    for (let i = 0; i < 50; i++) expect(await routed(normal)).toBe("cluster-1");
    expect(await active(sidecar)).toBe(1000);
    expect((await sidecar.metrics.shed.get()).values[0]?.value ?? 0).toBe(0);
    for (const s of held) s.cancel();
    await eventually(async () => (await active(sidecar)) === 0, 30_000, "released");
  }, TIMEOUT);

  it("past --max-streams-per-connection a connection waits, while others are served (small limits)", async () => {
    const { sidecar, client } = await start({ maxStreams: 100, maxStreamsPerConnection: 10 });
    const attackers = Array.from({ length: 5 }, () => client());
    const held = attackers.flatMap((a) => Array.from({ length: 40 }, () => a.open()));
    for (const s of held) s.call.write({ request_headers: { headers: headerProto(request), end_of_stream: true } });
    await eventually(async () => (await active(sidecar)) === 50, 10_000, "five connections, ten streams each");
    expect(await routed(client())).toBe("cluster-1");
    for (const s of held) s.cancel();
  });

  it("a stream open longer than --stream-timeout is ended with OK and a clear message, and counted", async () => {
    const { sidecar, client } = await start({ streamTimeoutMs: 300 });
    const c = client();
    const held = Array.from({ length: 20 }, () => c.open());
    const statuses = held.map((s) => statusOf(s.call));
    await Promise.all(held.map((s) => s.send({ request_headers: { headers: headerProto(request), end_of_stream: true } })));
    const ended = await within(Promise.all(statuses), 10_000, "held streams ended");
    for (const st of ended) {
      expect(st.code).toBe(grpc.status.OK);
      expect(st.details).toMatch(/stream open 300 ms \(--stream-timeout\) with nothing left to answer/);
    }
    expect((await sidecar.metrics.expired.get()).values[0].value).toBe(20);
    expect(await active(sidecar)).toBe(0);
    expect(await routed(c)).toBe("cluster-1");
  });
});

describe("connections that hold resources without streams (item 1)", () => {
  it("closes connections that never send a preface, even when the peer ignores the FIN", async () => {
    const { sidecar, client } = await start({ maxConnectionIdleMs: 200, keepaliveMs: 1000, keepaliveTimeoutMs: 200 });
    // Silent sockets that never read either: Node's HTTP/2 session alone would only half-close them.
    const silent = await Promise.all(Array.from({ length: 20 }, () => rawConnection(sidecar.port)));
    await eventually(() => sidecar.connections === 20, 5000, "accepted");
    await eventually(() => sidecar.connections === 0, 10_000, "silent connections destroyed");
    expect((await sidecar.metrics.idleSockets.get()).values[0].value).toBe(20);
    silent.forEach((s) => s.destroy());
    expect(await routed(client())).toBe("cluster-1");
  });

  it("sends GOAWAY to a connection idle past --max-connection-idle, and ages every connection out (--max-connection-age + grace)", async () => {
    const { sidecar } = await start({ maxConnectionIdleMs: 300, maxConnectionAgeMs: 1000, maxConnectionAgeGraceMs: 200 });
    const idle = http2Connect(`http://127.0.0.1:${sidecar.port}`);
    idle.on("error", () => {});
    const idleGoaway = new Promise<number>((resolve) => idle.once("goaway", resolve));
    expect(await within(idleGoaway, 5000, "idle GOAWAY")).toBe(h2.NGHTTP2_NO_ERROR);
    // A busy connection (a stream that never ends) is told to go at its age, then closed.
    const busy = http2Connect(`http://127.0.0.1:${sidecar.port}`);
    busy.on("error", () => {});
    const stream = busy.request({ ":method": "POST", ":path": "/envoy.service.ext_proc.v3.ExternalProcessor/Process", "content-type": "application/grpc", te: "trailers" });
    stream.on("error", () => {});
    const goaway = new Promise<number>((resolve) => busy.once("goaway", resolve));
    const closed = new Promise<void>((resolve) => busy.once("close", resolve));
    expect(await within(goaway, 5000, "age GOAWAY")).toBe(h2.NGHTTP2_NO_ERROR);
    await within(closed, 5000, "closed after the grace period");
  });
});

describe("PING floods (item 1): what protects the sidecar", () => {
  it("a flooder whose ACKs pile up is cut off past 1,000 unsent ACKs (nghttp2's outbound-ACK limit)", async () => {
    const { sidecar, client } = await start();
    const socket = await rawConnection(sidecar.port);
    const seen = frameReader(socket);
    // One read of the server's: the SETTINGS ACK plus 999 PING ACKs (1,000) are all answered ...
    socket.write(Buffer.concat([PREFACE, ...Array<Buffer>(999).fill(PING)]));
    await eventually(() => seen.pingAcks === 999, 5000, "999 PINGs in one write are answered");
    expect(seen.closed).toBe(false);
    socket.write(Buffer.concat(Array<Buffer>(1000).fill(PING)));
    await eventually(() => seen.pingAcks === 1999, 5000, "1,000 more in one write are answered");
    // ... and 1,001 ACKs waiting at once end the session.
    socket.write(Buffer.concat(Array<Buffer>(1001).fill(PING)));
    await eventually(() => seen.closed, 5000, "1,001 in one write: the session is ended");
    expect(seen.goaway?.code).toBe(h2.NGHTTP2_INTERNAL_ERROR);
    expect(await routed(client())).toBe("cluster-1");
  });

  it("a pinger that reads every ACK costs only the answers: 100,000 PINGs while a normal client is served", async () => {
    const { sidecar, client } = await start();
    const socket = await rawConnection(sidecar.port);
    const seen = frameReader(socket);
    socket.write(PREFACE);
    const flood = (async () => {
      for (let round = 1; round <= 200; round++) {
        socket.write(Buffer.concat(Array<Buffer>(500).fill(PING)));
        await eventually(() => seen.pingAcks === round * 500, 10_000, `ACKs of round ${round}`);
      }
    })();
    const normal = client();
    const answers = await Promise.all(Array.from({ length: 100 }, () => routed(normal)));
    await within(flood, 60_000, "the flood");
    expect(answers.every((a) => a === "cluster-1")).toBe(true);
    expect(seen.pingAcks).toBe(100_000);
    socket.destroy();
  }, TIMEOUT);
});

describe("rapid cancellation (item 2): who closes the session", () => {
  const service = extProcService().Process;
  const requestBytes = service.requestSerialize({ request_headers: { headers: headerProto(request), end_of_stream: true } });
  const responseBytes = service.requestSerialize({ response_headers: { headers: headerProto(ok), end_of_stream: true } });

  it("the server's nghttp2 sends GOAWAY(INTERNAL_ERROR, last stream id) past 1,000 RST_STREAMs in a burst (CVE-2023-44487 defence)", async () => {
    const { sidecar, client } = await start();
    const socket = await rawConnection(sidecar.port);
    const seen = frameReader(socket);
    // HEADERS (END_HEADERS) for a gRPC call, then RST_STREAM(CANCEL): 1,100 streams in one write.
    const headers = (id: number) => {
      const block = Buffer.concat([
        Buffer.from([0x83]), // :method POST (HPACK static 3)
        Buffer.from([0x86]), // :scheme http (static 6)
        Buffer.from([0x44, service.path.length]), Buffer.from(service.path), // :path, literal
        Buffer.from([0x41, 9]), Buffer.from("127.0.0.1"), // :authority, literal
        Buffer.from([0x5f, 16]), Buffer.from("application/grpc"), // content-type (static 31)
      ]);
      return frame(1, 0x4, id, block);
    };
    const cancel = (id: number) => frame(3, 0, id, Buffer.from([0, 0, 0, h2.NGHTTP2_CANCEL]));
    const frames: Buffer[] = [PREFACE];
    for (let i = 0; i < 1100; i++) frames.push(headers(2 * i + 1), cancel(2 * i + 1));
    socket.write(Buffer.concat(frames));
    await eventually(() => seen.goaway !== undefined, 10_000, "GOAWAY");
    expect(seen.goaway!.code).toBe(h2.NGHTTP2_INTERNAL_ERROR);
    // Graceful for the streams it names: every stream up to lastStreamId was received and may finish.
    expect(seen.goaway!.lastStreamId).toBeGreaterThan(1000 * 2);
    socket.destroy();
    expect(await routed(client())).toBe("cluster-1");
  });

  /** Every second stream cancelled after its request-headers answer, 32 in flight on one channel. */
  const STREAMS = 6000;

  it("a gRPC C-core client (python3-grpcio) rides through those GOAWAYs with 0 errors", async () => {
    const { sidecar } = await start();
    const child = spawn("/usr/bin/python3", [
      `${root}/test/support/cancelling_client.py`, String(sidecar.port), String(STREAMS), "32", "2", requestBytes.toString("hex"), responseBytes.toString("hex"),
    ], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.stderr.on("data", (d: Buffer) => (err += d));
    const code = await within(new Promise<number | null>((resolve) => child.once("exit", resolve)), 100_000, "the C-core client");
    expect(code, err).toBe(0);
    const result = JSON.parse(out);
    expect(result).toEqual({ done: STREAMS, cancelled: STREAMS / 2, errors: {} });
    // The sidecar did close the session on it (C-core reconnected), and nothing failed.
    expect((await sidecar.metrics.connections.get()).values[0].value).toBeGreaterThanOrEqual(2);
  }, TIMEOUT);

  it("a grpc-js client fails the streams in flight on the same GOAWAY (Node's HTTP/2 client ends the whole session on an error code)", async () => {
    const { sidecar } = await start();
    const Client = grpc.makeGenericClientConstructor(extProcService(), "ExternalProcessor");
    const c = new Client(`127.0.0.1:${sidecar.port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    const errors: Record<string, number> = {};
    let next = 0;
    const one = (i: number) => new Promise<void>((resolve) => {
      const call = (c as any).Process() as grpc.ClientDuplexStream<object, object>;
      let answers = 0;
      call.on("data", () => {
        if (++answers > 1) return;
        if (i % 2 === 0) call.cancel();
        else call.write({ response_headers: { headers: headerProto(ok), end_of_stream: true } });
      });
      call.on("error", (e: grpc.ServiceError) => {
        if (e.code !== grpc.status.CANCELLED) errors[e.details] = (errors[e.details] ?? 0) + 1;
      });
      call.on("status", () => resolve());
      call.write({ request_headers: { headers: headerProto(request), end_of_stream: true } });
    });
    await within(Promise.all(Array.from({ length: 32 }, async () => {
      while (next < STREAMS) await one(next++);
    })), 100_000, "the grpc-js client");
    c.close();
    expect((await sidecar.metrics.connections.get()).values[0].value).toBeGreaterThanOrEqual(2);
    expect(Object.keys(errors)).toEqual(["Received RST_STREAM with code 2 triggered by internal client error: Session closed with error code 2"]);
  }, TIMEOUT);
});

describe("malformed protobuf (item 9)", () => {
  it("refuses bytes that are not a ProcessingRequest with INVALID_ARGUMENT, naming the problem, and keeps serving", async () => {
    const { sidecar, client } = await start();
    // A generic client that sends raw bytes: a field 1 (request_headers) claiming 1,000 bytes it lacks.
    const raw = { ...extProcService().Process, requestSerialize: (b: Buffer) => b };
    const Raw = grpc.makeGenericClientConstructor({ Process: raw }, "Raw");
    const c = new Raw(`127.0.0.1:${sidecar.port}`, grpc.credentials.createInsecure());
    const call = (c as any).Process() as grpc.ClientDuplexStream<Buffer, object>;
    call.on("error", () => {});
    const status = statusOf(call);
    call.write(Buffer.from([0x12, 0xe8, 0x07, 0x01]));
    const st = await within(status, 5000, "status");
    c.close();
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toMatch(/^not a ProcessingRequest \(4 bytes\): /);
    expect((await sidecar.metrics.errors.get()).values).toContainEqual(expect.objectContaining({ labels: { kind: "protocol" }, value: 1 }));
    expect(await routed(client())).toBe("cluster-1");
  });
});
