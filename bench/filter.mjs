// Filter cost per request in the TypeScript host: request headers (~20 headers), response
// headers and the log phase, for a pass-through module, a module that sets one header, and the
// failover filter with 4 and 16 clusters. The one-header module is the baseline.
import { readFileSync } from "node:fs";
import Benchmark from "benchmark";
import { PluginVm } from "../dist/host/index.js";
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

/** A failover policy with n clusters over two regions and three zones. */
export function policy(n) {
  const clusters = Array.from({ length: n }, (_, i) => ({
    name: `cluster-${i + 1}`, region: `region-${(i % 2) + 1}`, zone: `zone-${i % 3}`, hosts: ["bookinfo.example.com"], endpoints: 10,
  }));
  return {
    seed: 42, locality: { region: "region-1", zone: "zone-0" }, clusters,
    routes: [{ name: "bookinfo", match: { authority: "bookinfo.example.com" }, destination: { mode: "auto" }, retry: { numRetries: 2 } }],
  };
}

export function vmFor(name, config) {
  let now = 1_800_000_000_000n * 1_000_000n;
  const vm = new PluginVm(module(name), { pluginConfig: JSON.stringify(config), clock: () => (now += 1_000n), logger: () => {}, vmId: "bench" });
  return vm.start();
}

/** One request through the filter, the way Envoy drives it. */
export function request(vm) {
  const s = vm.createStream({ source: { address: "203.0.113.7:40000" } });
  s.sendRequestHeaders(REQUEST, true);
  s.sendResponseHeaders(RESPONSE, true);
  s.end({ response: { code: 200, flags: 0 }, upstream: { request_attempt_count: 1 } });
}

export const VARIANTS = [
  ["pass-through module", () => vmFor("probe", { passThrough: true })],
  ["one-header module", () => vmFor("probe", { passThrough: true, requestHeader: ["x-failover-upstream", "cluster-1"] })],
  ["failover, 4 clusters", () => vmFor("failover", policy(4))],
  ["failover, 16 clusters", () => vmFor("failover", policy(16))],
];

export function run() {
  return new Promise((resolve) => {
    const suite = new Benchmark.Suite("filter");
    for (const [name, make] of VARIANTS) {
      const vm = make();
      suite.add(name, () => request(vm), { minSamples: 40 });
    }
    suite.on("cycle", (e) => process.stderr.write(`  ${e.target}\n`));
    suite.on("complete", function () {
      this.forEach((b) => {
        const base = b.name.startsWith("failover") ? "one-header module" : b.name === "pass-through module" ? undefined : "pass-through module";
        record("filter cost per request", b.name, 1e6 / b.hz, "µs", base);
      });
      resolve();
    });
    suite.run();
  });
}
