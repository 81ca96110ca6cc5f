// Memory after warm-up over one million requests: the filter's linear memory in the host
// (pages of 64 KiB), and the sidecar process's JS heap after a full collection (what it retains)
// and its RSS (which also moves with the allocator's reservations).
import { statSync } from "node:fs";
import { policy, request, vmFor } from "./filter.mjs";
import { record } from "./lib.mjs";
import { drive, memory, startServer } from "./sidecar.mjs";

const MILLION = 1_000_000;

export async function run() {
  const suite = "memory after warm-up";
  const vm = vmFor("failover", policy(4));
  const requests = (n) => {
    for (let i = 1; i <= n; i++) {
      request(vm);
      if (i % 1000 === 0) vm.tick(); // Envoy ticks the plugin; the module collects garbage there
    }
  };
  requests(20_000);
  const before = vm.memoryPages;
  requests(Number(process.env.BENCH_FILTER_REQUESTS ?? MILLION));
  record(suite, "filter: linear memory after warm-up", before * 64, "KiB");
  record(suite, "filter: growth over 1M requests", (vm.memoryPages - before) * 64, "KiB");

  const { child, port } = await startServer("failover");
  await drive(port, 20_000);
  const m0 = await memory(child);
  await drive(port, Number(process.env.BENCH_SIDECAR_REQUESTS ?? MILLION));
  const m1 = await memory(child);
  child.kill();
  record(suite, "sidecar: JS heap after warm-up", m0.heapUsed / 2 ** 20, "MiB");
  record(suite, "sidecar: JS heap growth over 1M requests", (m1.heapUsed - m0.heapUsed) / 2 ** 20, "MiB");
  record(suite, "sidecar: RSS after warm-up", m0.rss / 2 ** 20, "MiB");
  record(suite, "sidecar: RSS growth over 1M requests", (m1.rss - m0.rss) / 2 ** 20, "MiB");
}

export function size() {
  const bytes = statSync(new URL("../build/failover.wasm", import.meta.url)).size;
  record("module", "build/failover.wasm", bytes / 1024, "KiB");
}
