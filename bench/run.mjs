// `npm run bench`: every suite, a table on stdout, bench/results.json and the charts of the cost
// as the work grows (docs/bench/). BENCH_SECONDS (default 5), BENCH_FILTER_REQUESTS and
// BENCH_SIDECAR_REQUESTS (default 1e6), BENCH_PROFILE_REQUESTS (default 300000) shorten or
// lengthen the runs.
import * as filter from "./filter.mjs";
import * as hostCalls from "./host-calls.mjs";
import { machine, save, table } from "./lib.mjs";
import * as memory from "./memory.mjs";
import { profileHost } from "./profile.mjs";
import * as scaling from "./scaling.mjs";
import * as sidecar from "./sidecar.mjs";

const m = machine();
process.stderr.write(`machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, node ${m.node}\n`);
process.stderr.write("filter cost per request\n");
await filter.run();
process.stderr.write("host calls per request\n");
const calls = hostCalls.run();
process.stderr.write("cost as the work grows\n");
await scaling.run({ chartDir: new URL("../docs/bench/", import.meta.url).pathname });
process.stderr.write("CPU profile of the failover filter in the host\n");
const profile = await profileHost({ requests: Number(process.env.BENCH_PROFILE_REQUESTS ?? 300_000) });
for (const t of profile.top) process.stderr.write(`  ${t.percent}%  ${t.entry}\n`);
process.stderr.write("sidecar throughput and latency\n");
await sidecar.run();
process.stderr.write("memory\n");
await memory.run();
memory.size();
process.stdout.write(table() + "\n");
save(new URL("./results.json", import.meta.url).pathname, { hostCalls: calls, profile });
