#!/usr/bin/env node
// `npm run bench:profile`: a V8 CPU profile of requests through the host (in this process, with
// the inspector) or through the sidecar (its server process run with --cpu-prof), written as a
// .cpuprofile under build/bench-profiles/ (open it in Chrome DevTools or speedscope) and
// summarised as its top self-time entries. `npm run bench` records the host's summary in
// bench/results.json. Environment: BENCH_PROFILE_TARGET host (default) or sidecar;
// BENCH_PROFILE_MODULE failover (default), empty, pass-through or one-header (host only);
// BENCH_PROFILE_REQUESTS (default 300000 through the host, 50000 through the sidecar).
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { FLOOR, VARIANTS, request } from "./filter.mjs";
import { round } from "./lib.mjs";
import { drive, startServer } from "./sidecar.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
export const PROFILE_DIR = join(root, "build", "bench-profiles");
const MODULES = { failover: "failover, 4 clusters", empty: FLOOR, "pass-through": "pass-through module", "one-header": "one-header module" };

/**
 * The entries with the most self time: one per function (name and source position), with its
 * share of the busy samples (idle time left out); `wasm` is the share in the module's own code.
 */
export function topSelf(profile, n = 15) {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  const areas = new Map();
  let total = 0;
  let wasm = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const f = byNode.get(id).callFrame;
    if (f.functionName === "(idle)") return;
    const file = f.url.startsWith("file:") ? relative(root, fileURLToPath(f.url)) : f.url.startsWith("/") ? relative(root, f.url) : f.url;
    const where = f.url.startsWith("wasm://") ? "wasm" : f.url ? `${file}:${f.lineNumber + 1}` : "";
    const key = `${f.functionName || "(anonymous)"} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
    const area = areaOf(f.url, f.functionName);
    areas.set(area, (areas.get(area) ?? 0) + dt);
    total += dt;
    if (f.url.startsWith("wasm://")) wasm += dt;
  });
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([entry, us]) => ({ entry, percent: round((100 * us) / total, 1) }));
  const share = (us) => round((100 * us) / total, 1);
  const byArea = Object.fromEntries([...areas].sort((a, b) => b[1] - a[1]).map(([a, us]) => [a, share(us)]));
  return { samplesMs: round(total / 1000, 1), wasmPercent: share(wasm), byArea, top };
}

/** Which part of the stack a sample's source belongs to (the profile summed by area). */
export function areaOf(url, functionName) {
  if (url.startsWith("wasm://")) return "the module (wasm)";
  if (!url) return functionName === "(garbage collector)" ? "garbage collector" : "V8 and native (no source)";
  if (url.includes("/dist/host/")) return "host (extproc/host)";
  if (url.includes("/dist/")) return "sidecar (extproc/sidecar and others)";
  if (url.includes("/node_modules/@grpc/")) return "grpc-js";
  if (url.includes("/node_modules/protobufjs/") || url.includes("/node_modules/@protobufjs/")) return "protobufjs";
  if (url.includes("/node_modules/")) return "other libraries";
  if (url.includes("/bench/")) return "bench driver";
  if (url.includes("http2") || url.includes("net") || url.includes("stream")) return "Node http2, net and streams";
  return "Node core (other)";
}

const print = (title, s) => {
  process.stdout.write(`${title}: ${s.samplesMs} ms busy, ${s.wasmPercent}% in the module's wasm code\n`);
  process.stdout.write(`by area: ${Object.entries(s.byArea).map(([a, p]) => `${a} ${p}%`).join(", ")}\ntop self time:\n`);
  for (const t of s.top) process.stdout.write(`  ${String(t.percent).padStart(5)}%  ${t.entry}\n`);
};

/** Profiles `requests` requests of one module through the host; returns the summary. */
export async function profileHost({ module = "failover", requests = 300_000, file } = {}) {
  const variant = VARIANTS.find(([name]) => name === MODULES[module]);
  if (!variant) throw new Error(`unknown module ${module}: one of ${Object.keys(MODULES).join(", ")}`);
  const vm = variant[1]();
  for (let i = 0; i < 20_000; i++) request(vm); // warm: profile the optimized code, not the JIT
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 100 });
    await session.post("Profiler.start");
    for (let i = 0; i < requests; i++) request(vm);
    const { profile } = await session.post("Profiler.stop");
    if (file) writeFileSync(file, JSON.stringify(profile));
    return { target: "host", module: MODULES[module], requests, ...topSelf(profile) };
  } finally {
    session.disconnect();
  }
}

/** Profiles the failover sidecar's server process over `requests` ext_proc streams at concurrency 64. */
export async function profileSidecar({ requests = 50_000, file } = {}) {
  const dir = join(PROFILE_DIR, "sidecar-run");
  rmSync(dir, { recursive: true, force: true });
  const { child, port } = await startServer("failover", ["--cpu-prof", `--cpu-prof-dir=${dir}`]);
  await drive(port, 5_000); // warm-up (in the profile too: the server cannot start sampling later)
  await drive(port, requests);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGINT"); // the server exits on SIGINT, and V8 writes the profile on exit
  await exited;
  const [written] = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  const profile = JSON.parse(readFileSync(join(dir, written), "utf8"));
  if (file) writeFileSync(file, JSON.stringify(profile));
  rmSync(dir, { recursive: true, force: true });
  return { target: "sidecar", module: "failover, 4 clusters", requests, ...topSelf(profile) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const target = process.env.BENCH_PROFILE_TARGET ?? "host";
  const module = process.env.BENCH_PROFILE_MODULE ?? "failover";
  const requests = Number(process.env.BENCH_PROFILE_REQUESTS ?? (target === "sidecar" ? 50_000 : 300_000));
  mkdirSync(PROFILE_DIR, { recursive: true });
  const file = join(PROFILE_DIR, target === "sidecar" ? "sidecar.cpuprofile" : `host-${module}.cpuprofile`);
  const s = target === "sidecar" ? await profileSidecar({ requests, file }) : await profileHost({ module, requests, file });
  print(`${s.requests} requests through the ${s.target} (${s.module})`, s);
  process.stdout.write(`profile: ${relative(process.cwd(), file)}\n`);
}
