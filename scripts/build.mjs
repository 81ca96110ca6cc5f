#!/usr/bin/env node
// Builds whatever is older than its sources: the filter (assemblyscript, release + debug), the
// test/bench fixture modules, the host's ABI enums (generated from the filter's, abi-gen.mjs), and
// the TypeScript of the sidecar/CLI (tsc into dist/).
// `npm test`, `npm start` and the `failover` command call this first; on a fresh clone it also
// installs the locked dependencies (npm ci), so nothing else is needed. --force rebuilds all.
import { existsSync, readdirSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateAbi } from "./abi-gen.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const at = (...p) => join(root, ...p);

/** Newest modification time among files under the given paths. */
function newest(paths) {
  let t = 0;
  for (const p of paths) {
    if (!existsSync(p)) continue;
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p)) t = Math.max(t, newest([join(p, e)]));
    } else t = Math.max(t, st.mtimeMs);
  }
  return t;
}

const stale = (output, sources) => !existsSync(output) || statSync(output).mtimeMs < newest(sources);

const wasmSources = [at("assembly"), at("asconfig.json"), at("package-lock.json"), at("scripts", "shrink-wasm.mjs"), at("scripts", "static-block-sizes.mjs")];
const modules = [
  { out: "build/failover.wasm", entry: "assembly/index.ts", target: "release" },
  { out: "build/failover.debug.wasm", entry: "assembly/index.ts", target: "debug" },
  { out: "build/probe.wasm", entry: "assembly/fixtures/probe.ts", target: "release" },
  { out: "build/empty.wasm", entry: "assembly/fixtures/empty.ts", target: "release" },
];

async function compileWasm(m) {
  const { default: asc } = await import("assemblyscript/asc");
  const errors = [];
  const { error } = await asc.main(
    [m.entry, "--config", "asconfig.json", "--target", m.target, "--outFile", m.out],
    { stdout: { write() {} }, stderr: { write: (s) => errors.push(String(s)) } },
  );
  if (error) throw new Error(`asc failed for ${m.entry} (${m.target}):\n${errors.join("")}`);
  if (m.target === "release") shrink(m.out);
}

/**
 * One more size-optimizing pass of binaryen (the optimizer asc itself uses, at the same version)
 * over the release module: the module must stay within 64 KiB, and this finds about 300 bytes
 * that asc's pipeline leaves. In its own process: asc leaves binaryen's global options set.
 */
function shrink(file) {
  const r = spawnSync(process.execPath, [at("scripts", "shrink-wasm.mjs"), file], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`shrinking ${file} failed (see above)`);
}

function compileTs() {
  const tsc = at("node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", at("tsconfig.build.json")], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) throw new Error("tsc failed (see above)");
}

/** Installs the locked dependencies when node_modules is missing or older than the lockfile. */
function install(log) {
  const marker = at("node_modules", ".package-lock.json");
  if (!stale(marker, [at("package-lock.json")])) return;
  log("installing dependencies (npm ci)");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const r = spawnSync(npm, ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new Error("npm ci failed (see above)");
}

export async function build({ force = false, log = (s) => process.stderr.write(s + "\n") } = {}) {
  process.chdir(root);
  install(log);
  // The host's ABI numbers come from the filter's (one source); before anything reads extproc/.
  if (generateAbi(at)) log("generated extproc/host/abi.ts from assembly/abi/types.ts");
  for (const m of modules) {
    if (force || stale(at(m.out), wasmSources)) {
      log(`building ${m.out}`);
      await compileWasm(m);
    }
  }
  if (force || stale(at("dist", ".built"), [at("extproc"), at("tsconfig.json"), at("tsconfig.build.json")])) {
    log("building dist/ (tsc)");
    compileTs();
    const { writeFileSync } = await import("node:fs");
    writeFileSync(at("dist", ".built"), new Date().toISOString() + "\n");
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  build({ force: process.argv.includes("--force") }).catch((e) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
