// The sidecar image holds only what the sidecar runs: `dependencies` are exactly the packages the
// compiled dist/ imports (the compiler and test tools are devDependencies, pruned in the
// Dockerfile), and the Node versions of the image, engines, CI and the README agree.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import semver from "semver";
import { describe, expect, it } from "vitest";
import { buildFirst } from "./support/cli.js";
import { root } from "./support/wasm.js";

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8"));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => (statSync(join(dir, e)).isDirectory() ? files(join(dir, e)) : [join(dir, e)]));
}

/** The package a bare specifier names (`@scope/name/sub` -> `@scope/name`). */
const packageOf = (spec: string) => spec.split("/").slice(0, spec.startsWith("@") ? 2 : 1).join("/");

buildFirst();

describe("the runtime's dependencies", () => {
  it("are exactly the packages dist/ imports or resolves", () => {
    const used = new Set<string>();
    // dist/ as a fresh build makes it: a .js whose extproc/ source is gone is a stale leftover.
    const built = files(join(root, "dist")).filter((f) => f.endsWith(".js") && existsSync(join(root, "extproc", relative(join(root, "dist"), f)).replace(/\.js$/, ".ts")));
    for (const f of built) {
      const js = readFileSync(f, "utf8");
      for (const m of js.matchAll(/(?:from\s+|import\s*\(\s*|require(?:\.resolve)?\(\s*)["']([^"'.][^"']*)["']/g)) {
        if (!m[1].startsWith("node:")) used.add(packageOf(m[1]));
      }
    }
    expect([...used].sort()).toEqual(Object.keys(pkg.dependencies).sort());
  });

  it("leave out the compiler: assemblyscript and binaryen are devDependencies, and no runtime package needs them", () => {
    for (const dev of ["assemblyscript", "binaryen", "vitest", "vega-lite"]) {
      expect(pkg.dependencies[dev], dev).toBeUndefined();
      expect(lock.packages[`node_modules/${dev}`]?.dev, `${dev} is dev-only in the lockfile`).toBe(true);
    }
  });

  it("install on the Node that CI runs without an engine warning (engines honest for every locked package)", () => {
    const tooNew = Object.entries(lock.packages as Record<string, { engines?: { node?: string }; optional?: boolean }>)
      .filter(([, p]) => p.engines?.node && !p.optional && !semver.satisfies(process.version, p.engines.node))
      .map(([name, p]) => `${name || "envoy-failover"} wants node ${p.engines!.node}`);
    expect(tooNew).toEqual([]);
    // engines names the oldest Node that everything locked supports, and this (CI's) Node is in it.
    expect(semver.satisfies(process.version, pkg.engines.node)).toBe(true);
  });
});

describe("Node versions", () => {
  it("the image runs Node 22 in both stages; the README names the Node that engines allows and CI runs", () => {
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
    expect(dockerfile.match(/^FROM .*$/gm)).toEqual(["FROM node:22-bookworm-slim AS build", "FROM node:22-bookworm-slim"]);
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const stated = /Node\.js (\d+) or newer/.exec(readme);
    expect(stated, "README states the Node version").not.toBeNull();
    expect(`>=${stated![1]}`).toBe(pkg.engines.node);
  });
});
