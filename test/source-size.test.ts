// Issue 12's bar: no source file over about 400 lines, so each file keeps one job a reader can hold.
// The files are the committed ones (`git ls-files`): what .gitignore keeps out (the built dist/,
// generated schemas and bindings) is not source. No file is exempt.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { root } from "./support/wasm.js";

const MAX_LINES = 400;
const DIRS = ["assembly", "extproc", "scripts", "bench"];
const SOURCE = /\.(ts|mjs|js)$/;

/** The committed source files under `dirs`, relative to the repository. */
function sources(dirs: string[]): string[] {
  const out = execFileSync("git", ["ls-files", "-z", "--", ...dirs], { cwd: root, encoding: "utf8" });
  return out.split("\0").filter((f) => SOURCE.test(f));
}

/** Lines as `wc -l` counts them: the newlines, plus a last line that has none. */
function lineCount(text: string): number {
  const newlines = text.split("\n").length - 1;
  return text.length > 0 && !text.endsWith("\n") ? newlines + 1 : newlines;
}

describe("source size", () => {
  it(`no source file under ${DIRS.join(", ")} is over ${MAX_LINES} lines`, () => {
    const files = sources(DIRS);
    expect(files.length).toBeGreaterThan(50); // the listing found the tree, not an empty checkout
    const offenders = files
      .map((f) => ({ f, n: lineCount(readFileSync(join(root, f), "utf8")) }))
      .filter(({ n }) => n > MAX_LINES)
      .map(({ f, n }) => `${f}: ${n} lines`);
    expect(offenders).toEqual([]);
  });
});
