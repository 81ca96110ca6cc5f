// No import cycle in the filter (assembly/) or the TypeScript side (extproc/): each module's
// imports, as TypeScript's own pre-processor reads them (static, dynamic and type-only imports
// and re-exports), resolved to files, walked depth-first.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { root } from "./support/wasm.js";

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [join(dir, e.name)] : []);
}

/** The project files `file` imports (relative specifiers; packages are not ours). */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  return info.importedFiles.map((i) => i.fileName).filter((s) => s.startsWith(".")).flatMap((spec) => {
    const base = join(dirname(file), spec);
    const found = [base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts")].find((p) => p.endsWith(".ts") && existsSync(p));
    return found ? [found] : [];
  });
}

/** Every cycle found by a depth-first walk, each as the files around it. */
function cycles(files: string[]): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (f: string): void => {
    state.set(f, "open");
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === "open") found.push([...stack.slice(stack.indexOf(g)), g].map((p) => relative(root, p)));
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, "done");
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return found;
}

describe("imports", () => {
  it.each(["assembly", "extproc"])("form no cycle in %s/", (dir) => {
    const files = sources(join(root, dir));
    expect(files.length).toBeGreaterThan(10);
    expect(files.some((f) => importsOf(f).length > 0)).toBe(true);
    expect(cycles(files)).toEqual([]);
  });

  it("reports a cycle when two files import each other", () => {
    const dir = mkdtempSync(join(tmpdir(), "cycle-"));
    writeFileSync(join(dir, "a.ts"), 'import { b } from "./b.js";\nexport const a = 1 + b;\n');
    writeFileSync(join(dir, "b.ts"), 'import type { a } from "./a.js";\nexport const b = 2;\n');
    writeFileSync(join(dir, "c.ts"), 'import { a } from "./a.js";\n');
    expect(cycles(sources(dir)).map((c) => c.map((p) => p.split("/").pop()))).toEqual([["a.ts", "b.ts", "a.ts"]]);
  });
});
