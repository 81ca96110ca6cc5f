// Filter cost per request in the TypeScript host: request headers (~20 headers), response
// headers and the log phase, for the empty module (the host's own floor: it exports no callback),
// a pass-through module, a module that sets one header, and the failover filter with 4 and 16
// clusters. The failover filter is compared with the one-header module and with the floor.
// Headers arrive as Envoy's ext_proc message brings them to the sidecar (bytes, converted by the
// sidecar's own toHeaderMap each request), not in a form only the bench uses.
import { readFileSync } from "node:fs";
import Benchmark from "benchmark";
import { PluginVm } from "../dist/host/index.js";
import { toHeaderMap } from "../dist/sidecar/protocol.js";
import { record } from "./lib.mjs";

const root = new URL("..", import.meta.url).pathname;
const module = (name) => new WebAssembly.Module(readFileSync(`${root}build/${name}.wasm`));

export const REQUEST = [
  [":method", "GET"], [":path", "/productpage?u=normal"], [":authority", "bookinfo.example.com"], [":scheme", "https"],
  ["user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"], ["accept", "text/html,application/xhtml+xml"],
  ["accept-language", "en-US,en;q=0.9"], ["accept-encoding", "gzip, deflate, br"], ["cookie", "session=4f6a1c; theme=dark"],
  ["x-request-id", "c1b9a1b2-8f7e-4c6a-9d1e-5a3b2c1d0e9f"], ["x-forwarded-for", "203.0.113.7"], ["x-forwarded-proto", "https"],
  ["x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"], ["x-b3-spanid", "e457b5a2e4d86bd1"], ["x-b3-sampled", "1"],
  ["cache-control", "no-cache"], ["pragma", "no-cache"], ["referer", "https://bookinfo.example.com/"], ["dnt", "1"],
  ["content-length", "0"],
];
const RESPONSE = [[":status", "200"], ["content-type", "text/html"], ["content-length", "1234"]];

/** REQUEST grown to `n` headers with application headers (x-app-<i>: a 32-character value). */
export function requestHeaders(n) {
  const extra = Array.from({ length: Math.max(0, n - REQUEST.length) }, (_, i) => [`x-app-${i + 1}`, "f".repeat(24) + String(i).padStart(8, "0")]);
  return [...REQUEST, ...extra];
}

/**
 * A failover policy with n clusters over two regions and three zones, and `routes` routes: the
 * request matches only the last one (earlier ones have other path prefixes), so a route lookup
 * that scans pays for all of them.
 */
export function policy(n, routes = 1) {
  const clusters = Array.from({ length: n }, (_, i) => ({
    name: `cluster-${i + 1}`, region: `region-${(i % 2) + 1}`, zone: `zone-${i % 3}`, hosts: ["bookinfo.example.com"], endpoints: 10,
  }));
  const route = (name, match) => ({ name, match, destination: { mode: "auto" }, retry: { numRetries: 2 } });
  const others = Array.from({ length: routes - 1 }, (_, i) => route(`svc-${i + 1}`, { authority: "bookinfo.example.com", pathPrefix: `/svc-${i + 1}/` }));
  return {
    seed: 42, locality: { region: "region-1", zone: "zone-0" }, clusters,
    routes: [...others, route("bookinfo", { authority: "bookinfo.example.com" })],
  };
}

export function vmFor(name, config) {
  let now = 1_800_000_000_000n * 1_000_000n;
  const vm = new PluginVm(module(name), { pluginConfig: JSON.stringify(config), clock: () => (now += 1_000n), logger: () => {}, vmId: "bench" });
  return vm.start();
}

/**
 * `pairs` as an ext_proc message carries them once gRPC decoded it: HeaderValue {key, raw_value},
 * each raw_value a view into the one message buffer (protobufjs decodes bytes fields so).
 */
export function extProcHeaders(pairs) {
  const message = Buffer.from(pairs.map(([k, v]) => k + v).join(""));
  let at = 0;
  return pairs.map(([key, value]) => {
    at += Buffer.byteLength(key);
    const raw_value = message.subarray(at, (at += Buffer.byteLength(value)));
    return { key, raw_value };
  });
}

const decoded = new WeakMap(); // each header list as its decoded message (decoding is gRPC's cost)
const asExtProc = (pairs) => decoded.get(pairs) ?? decoded.set(pairs, { headers: extProcHeaders(pairs) }).get(pairs);

/**
 * One request through the filter, the way Envoy drives it and the sidecar feeds it: per message,
 * the sidecar's own conversion (toHeaderMap: the ext_proc headers as a HeaderMap of their bytes)
 * handed to the stream. `phase(name)` (optional) is told when each of Envoy's steps is done.
 */
export function request(vm, headers = REQUEST, phase) {
  const s = vm.createStream({ source: { address: "203.0.113.7:40000" } });
  s.sendRequestHeaders(toHeaderMap(asExtProc(headers)), true);
  phase?.("request headers");
  s.sendResponseHeaders(toHeaderMap(asExtProc(RESPONSE)), true);
  phase?.("response headers");
  s.end({ response: { code: 200, flags: 0 }, upstream: { request_attempt_count: 1 } });
  phase?.("log");
}

export const FLOOR = "empty module (host floor)";
export const STRINGS = "pass-through module, headers as string pairs";
export const VARIANTS = [
  [FLOOR, () => vmFor("empty", {})],
  ["pass-through module", () => vmFor("probe", { passThrough: true })],
  ["one-header module", () => vmFor("probe", { passThrough: true, requestHeader: ["x-failover-upstream", "cluster-1"] })],
  ["failover, 4 clusters", () => vmFor("failover", policy(4))],
  ["failover, 16 clusters", () => vmFor("failover", policy(16))],
];

/**
 * Per-request µs of each [name, fn] case (benchmark.js, BENCH_SECONDS per case at most). All cases
 * run a while first, interleaved, so the host's code is optimized for all of them before any is
 * timed (else the first cases pay for the JIT's warm-up).
 */
export function measure(cases, { seconds = Number(process.env.BENCH_SECONDS ?? 5), warmup = 2000 } = {}) {
  for (let round = 0; round < 4; round++) for (const [, fn] of cases) for (let i = 0; i < warmup / 4; i++) fn();
  return new Promise((resolve) => {
    const suite = new Benchmark.Suite();
    for (const [name, fn] of cases) suite.add(name, fn, { minSamples: 40, maxTime: seconds });
    suite.on("cycle", (e) => process.stderr.write(`  ${e.target}\n`));
    suite.on("complete", function () {
      resolve(new Map(this.map((b) => [b.name, 1e6 / b.hz])));
    });
    suite.run();
  });
}

const BASELINES = { [FLOOR]: undefined, "pass-through module": FLOOR, "one-header module": FLOOR, [STRINGS]: "pass-through module" };

/** One request with the headers as [name, string] pairs (the README's form, what tests pass). */
export function requestWithStrings(vm) {
  const s = vm.createStream({ source: { address: "203.0.113.7:40000" } });
  s.sendRequestHeaders(REQUEST, true);
  s.sendResponseHeaders(RESPONSE, true);
  s.end({ response: { code: 200, flags: 0 }, upstream: { request_attempt_count: 1 } });
}

export async function run() {
  const cases = VARIANTS.map(([name, make]) => {
    const vm = make();
    return [name, () => request(vm)];
  });
  const strings = VARIANTS[1][1]();
  cases.push([STRINGS, () => requestWithStrings(strings)]);
  for (const [name, us] of await measure(cases)) {
    const base = name in BASELINES ? BASELINES[name] : ["one-header module", FLOOR];
    record("filter cost per request", name, us, "µs", base);
  }
}
