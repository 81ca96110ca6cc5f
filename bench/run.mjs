// `npm run bench`: every suite, a table on stdout, and bench/results.json.
// BENCH_SECONDS (default 5), BENCH_FILTER_REQUESTS and BENCH_SIDECAR_REQUESTS (default 1e6)
// shorten or lengthen the runs.
import * as filter from "./filter.mjs";
import { machine, save, table } from "./lib.mjs";
import * as memory from "./memory.mjs";
import * as sidecar from "./sidecar.mjs";

const m = machine();
process.stderr.write(`machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, node ${m.node}\n`);
process.stderr.write("filter cost per request\n");
await filter.run();
process.stderr.write("sidecar throughput and latency\n");
await sidecar.run();
process.stderr.write("memory\n");
await memory.run();
memory.size();
process.stdout.write(table() + "\n");
save(new URL("./results.json", import.meta.url).pathname);
