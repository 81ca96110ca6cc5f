// Policy and scenario files: YAML (JSON is read by the same parser: YAML 1.2 contains it) into a
// plain object. Parse errors name the file, line and column; and a path inside the document, as
// the module names it in its errors (`routes[0].destination.weights.c9`), can be traced back to
// the line that wrote it.

import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from "yaml";
import type { Node, Pair } from "yaml";

/** A file that cannot be read or parsed, or that holds something other than a mapping. */
export class DocumentError extends Error {
  override name = "DocumentError";
}

export type PathSegment = string | number;

export class LoadedDocument {
  constructor(
    /** The path as given (kept for messages). */
    readonly file: string,
    readonly value: Record<string, unknown>,
    private readonly root: Node | null,
    private readonly lines: LineCounter,
  ) {}

  /**
   * `file:line:column` of the member at `path` (its key, for a mapping member), or of the deepest
   * part of the path that exists, so that "required" errors point at the parent.
   */
  where(path: readonly PathSegment[]): string {
    const { line, col } = this.lines.linePos(offsetOf(this.root, path));
    return `${display(this.file)}:${line}:${col}`;
  }
}

/**
 * The source offset of the member at `path` in a parsed YAML document: its key for a mapping
 * member, or the deepest existing parent. Keys may contain dots ("cluster.v1"), which a dotted
 * path split apart, so several segments may name one key.
 */
export function offsetOf(root: Node | null, path: readonly PathSegment[]): number {
  let node: unknown = root;
  let at = root?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      node = item;
      at = item.range?.[0] ?? at;
    } else if (isMap(node)) {
      let pair: Pair<unknown, unknown> | undefined;
      let j = path.length;
      for (; j > i && !pair; j--) {
        const key = path.slice(i, j).join(".");
        pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
      }
      if (!pair) break;
      at = (pair.key as Node).range?.[0] ?? at;
      node = pair.value;
      i = j; // the key used segments i..j (the loop's j-- ran once after the match)
    } else break;
  }
  return at;
}

/** Reads and parses one file; the top level must be a mapping. */
export function loadDocument(file: string): LoadedDocument {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new DocumentError(`${display(file)}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const { line, col } = lines.linePos(e.pos[0]);
    throw new DocumentError(`${display(file)}:${line}:${col}: ${e.message}`);
  }
  const value: unknown = doc.toJS();
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new DocumentError(`${display(file)}:1:1: expected a mapping (key: value) at the top level`);
  }
  return new LoadedDocument(file, value as Record<string, unknown>, doc.contents as Node | null, lines);
}

/** Splits a module path (`routes[0].destination.weights.c9`) into segments. */
export function parsePath(path: string): PathSegment[] {
  if (path === "document" || path === "") return [];
  const out: PathSegment[] = [];
  for (const m of path.matchAll(/\[(\d+)\]|([^.[\]]+)/g)) out.push(m[1] !== undefined ? Number(m[1]) : m[2]);
  return out;
}

/** Paths in messages: relative to the working directory when that is shorter. */
export function display(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith("..") && rel.length < file.length ? rel : file;
}
