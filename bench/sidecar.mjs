// Sidecar throughput and latency over loopback gRPC, one stream per request as Envoy does
// (request headers, then response headers, then the end of the stream), at concurrency 1, 16
// and 64: the do-nothing ext_proc server (same stack) is the baseline. Each server runs in its
// own process; this process is the load generator.
import { fork } from "node:child_process";
import * as grpc from "@grpc/grpc-js";
import { extProcService } from "../dist/sidecar/protocol.js";
import { REQUEST } from "./filter.mjs";
import { percentile, record } from "./lib.mjs";

const Client = grpc.makeGenericClientConstructor(extProcService(), "ExternalProcessor");
const headers = (h) => ({ headers: h.map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) });
const REQ = { request_headers: { headers: headers(REQUEST), end_of_stream: true } };
const RESP = { response_headers: { headers: headers([[":status", "200"], ["content-type", "text/html"]]), end_of_stream: true } };

export function startServer(kind) {
  const child = fork(new URL("./sidecar-server.mjs", import.meta.url).pathname, [kind], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return new Promise((resolve) => child.once("message", (m) => resolve({ child, port: m.port })));
}

/** The server's memory after a full garbage collection: { rss, heapUsed } in bytes. */
export const memory = (child) => new Promise((resolve) => {
  child.once("message", resolve);
  child.send("rss");
});

/** One HTTP request's ext_proc stream; resolves with its latency in ms. */
function exchange(client) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const call = client.Process();
    let answers = 0;
    call.on("data", () => {
      answers++;
      if (answers === 1) call.write(RESP);
      else call.end();
    });
    call.on("error", reject);
    call.on("status", () => resolve(Number(process.hrtime.bigint() - started) / 1e6));
    call.write(REQ);
  });
}

/** `concurrency` loops of exchanges for `seconds`; returns requests/s and latency percentiles. */
export async function load(port, concurrency, seconds) {
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const until = Date.now() + seconds * 1000;
  const latencies = [];
  const loop = async () => {
    while (Date.now() < until) latencies.push(await exchange(client));
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  client.close();
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), n: latencies.length };
}

/** Sends `total` requests at concurrency 64 (warm-up or memory runs). */
export async function drive(port, total) {
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  let left = total;
  const loop = async () => {
    while (left-- > 0) await exchange(client);
  };
  await Promise.all(Array.from({ length: 64 }, loop));
  client.close();
}

export async function run({ seconds = Number(process.env.BENCH_SECONDS ?? 5) } = {}) {
  const suite = "sidecar over loopback gRPC";
  for (const concurrency of [1, 16, 64]) {
    for (const kind of ["noop", "failover"]) {
      const { child, port } = await startServer(kind);
      await load(port, concurrency, 1); // warm-up
      const r = await load(port, concurrency, seconds);
      child.kill();
      const name = kind === "noop" ? `do-nothing server, c${concurrency}` : `failover sidecar, c${concurrency}`;
      const base = kind === "noop" ? undefined : `do-nothing server, c${concurrency}`;
      process.stderr.write(`  ${name}: ${Math.round(r.rps)} req/s, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms (${r.n} requests)\n`);
      record(suite, `${name}: throughput`, r.rps, "req/s", base && `${base}: throughput`);
      record(suite, `${name}: p50`, r.p50, "ms", base && `${base}: p50`);
      record(suite, `${name}: p99`, r.p99, "ms", base && `${base}: p99`);
    }
  }
}
