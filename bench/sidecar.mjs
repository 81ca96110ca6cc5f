// Sidecar throughput and latency over loopback gRPC, one stream per request as Envoy does
// (request headers, then response headers, then the end of the stream), at concurrency 1, 16
// and 64: the do-nothing ext_proc server (grpc-js with proto-loader's service definition, as one
// writes it) is the baseline of the targets; the same do-nothing server on the sidecar's codec
// (extproc/sidecar/codec.ts) is the floor of the sidecar's plumbing; the same sidecar serving the
// empty module (its plumbing without the filter) is the third. Each server runs in its own
// process; this process is the load generator. The servers' CPU time per request splits the
// sidecar's cost: grpc-js and ext_proc (the do-nothing server on the sidecar's codec), the
// sidecar's conversions (the empty-module sidecar's extra, of which the host's floor is measured
// in the filter suite), and the module (the failover sidecar's extra over the empty-module one).
// `node bench/sidecar.mjs` runs this suite alone (BENCH_SECONDS, default 5).
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { genericExtProcService } from "../dist/sidecar/protocol.js";
import { FLOOR, REQUEST } from "./filter.mjs";
import { machine, percentile, record, table, valueOf } from "./lib.mjs";

const Client = grpc.makeGenericClientConstructor(genericExtProcService(), "ExternalProcessor");
const headers = (h) => ({ headers: h.map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) });
const REQ = { request_headers: { headers: headers(REQUEST), end_of_stream: true } };
const RESP = { response_headers: { headers: headers([[":status", "200"], ["content-type", "text/html"]]), end_of_stream: true } };

/** Starts a benchmark server (sidecar-server.mjs) in its own process; `node` adds Node flags. */
export function startServer(kind, node = []) {
  const child = fork(new URL("./sidecar-server.mjs", import.meta.url).pathname, [kind], { execArgv: ["--expose-gc", ...node], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return new Promise((resolve) => child.once("message", (m) => resolve({ child, port: m.port })));
}

/** Asks the server process for a figure ("rss", "cpu"; see sidecar-server.mjs). */
const ask = (child, what) => new Promise((resolve) => {
  child.once("message", resolve);
  child.send(what);
});

/** The server's memory after a full garbage collection: { rss, heapUsed } in bytes. */
export const memory = (child) => ask(child, "rss");

/** The server's CPU time so far (user + system), in µs. */
export const cpu = async (child) => (await ask(child, "cpu")).cpu;

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

/** `concurrency` loops of exchanges on `client` for `seconds`; returns each latency (ms) and the time taken (s). */
async function slice(client, concurrency, seconds) {
  const until = Date.now() + seconds * 1000;
  const latencies = [];
  const loop = async () => {
    while (Date.now() < until) latencies.push(await exchange(client));
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { latencies, elapsed: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** `concurrency` loops of exchanges for `seconds`; returns requests/s and latency percentiles. */
export async function load(port, concurrency, seconds) {
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const { latencies, elapsed } = await slice(client, concurrency, seconds);
  client.close();
  return summary(latencies, elapsed);
}

const summary = (latencies, elapsed) => {
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), n: latencies.length };
};

/**
 * Sends `total` requests at concurrency 64 (warm-up, memory and profile runs). A stream the
 * connection dropped (UNAVAILABLE: the server closed the connection) is sent again, as Envoy
 * would on its new connection; returns how many were.
 */
export async function drive(port, total) {
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  let left = total;
  let dropped = 0;
  const loop = async () => {
    while (left-- > 0) {
      await exchange(client).catch((e) => {
        if (e.code !== grpc.status.UNAVAILABLE) throw e;
        dropped++;
        left++;
      });
    }
  };
  await Promise.all(Array.from({ length: 64 }, loop));
  client.close();
  if (dropped) process.stderr.write(`  (${dropped} streams dropped with their connection and sent again)\n`);
  return dropped;
}

export const SERVERS = [
  ["noop", "do-nothing server"],
  ["noop-codec", "do-nothing server, sidecar's codec"],
  ["empty", "sidecar, empty module"],
  ["failover", "failover sidecar"],
];
const BASELINES = {
  noop: [],
  "noop-codec": ["do-nothing server"],
  empty: ["do-nothing server", "do-nothing server, sidecar's codec"],
  failover: ["do-nothing server", "do-nothing server, sidecar's codec", "sidecar, empty module"],
};

/**
 * Every server runs at once (idle but for its turn), and the measured time is cut into 1 s
 * slices taken in turn, the order rotating each round: a burst of load from elsewhere on a shared
 * machine falls on every server alike instead of on whichever ran then, so the ratios hold. Each
 * slice follows a short unmeasured one: a server idle for a few seconds starts slowly again.
 */
export async function run({ seconds = Number(process.env.BENCH_SECONDS ?? 5) } = {}) {
  const suite = "sidecar over loopback gRPC";
  const rounds = Math.max(1, Math.round(seconds));
  for (const concurrency of [1, 16, 64]) {
    const servers = [];
    for (const [kind, title] of SERVERS) {
      const { child, port } = await startServer(kind);
      const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
      await slice(client, concurrency, 1); // warm-up
      servers.push({ kind, title, child, client, latencies: [], elapsed: 0, cpu: 0 });
    }
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < servers.length; i++) {
        const s = servers[(round + i) % servers.length];
        await slice(s.client, concurrency, 0.25); // back to speed after its idle turns (not measured)
        const cpu0 = await cpu(s.child);
        const r = await slice(s.client, concurrency, seconds / rounds);
        s.cpu += (await cpu(s.child)) - cpu0;
        s.latencies.push(...r.latencies);
        s.elapsed += r.elapsed;
      }
    }
    const cpuPerRequest = {};
    for (const s of servers) {
      s.client.close();
      s.child.kill();
      const r = summary(s.latencies, s.elapsed);
      cpuPerRequest[s.kind] = s.cpu / r.n;
      const name = `${s.title}, c${concurrency}`;
      const base = (figure) => BASELINES[s.kind].map((b) => `${b}, c${concurrency}: ${figure}`);
      process.stderr.write(`  ${name}: ${Math.round(r.rps)} req/s, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, server CPU ${cpuPerRequest[s.kind].toFixed(1)} µs/request (${r.n} requests)\n`);
      record(suite, `${name}: throughput`, r.rps, "req/s", base("throughput"));
      record(suite, `${name}: p50`, r.p50, "ms", base("p50"));
      record(suite, `${name}: p99`, r.p99, "ms", base("p99"));
      record(suite, `${name}: server CPU per request`, cpuPerRequest[s.kind], "µs", base("server CPU per request"));
    }
    split(concurrency, cpuPerRequest);
  }
}

/** The failover sidecar's server CPU per request, split by what each server adds to the last. */
function split(concurrency, c) {
  const suite = "sidecar CPU per request, split";
  const floor = valueOf("filter cost per request", FLOOR); // measured earlier in this run, if at all
  const at = (what) => `c${concurrency}: ${what}`;
  record(suite, at("ext_proc and grpc-js (the do-nothing server on the sidecar's codec)"), c["noop-codec"], "µs");
  record(suite, at("proto-loader's generic conversions, which the sidecar does not pay (do-nothing - do-nothing on the sidecar's codec)"), c.noop - c["noop-codec"], "µs");
  const plumbing = c.empty - c["noop-codec"];
  if (floor === undefined) record(suite, at("sidecar conversions and the host's floor (empty-module sidecar - do-nothing on the sidecar's codec)"), plumbing, "µs");
  else {
    record(suite, at("sidecar conversions: headers, attributes, answer, metrics (empty-module sidecar - do-nothing on the sidecar's codec - host floor)"), plumbing - floor, "µs");
    record(suite, at("host floor (filter suite, empty module)"), floor, "µs");
  }
  record(suite, at("the module, its host calls and its mutation's encoding (failover sidecar - empty-module sidecar)"), c.failover - c.empty, "µs");
  record(suite, at("failover sidecar in all"), c.failover, "µs");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const m = machine();
  process.stderr.write(`machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, node ${m.node}\n`);
  await run();
  process.stdout.write(table() + "\n");
}
