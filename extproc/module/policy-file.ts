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

/** Deepest nesting of mappings and lists the filter reads (assembly/json.ts MAX_DEPTH). */
export const MAX_NESTING = 64;

/**
 * The first structural problem the filter would report confusingly, as [offset, message]: nesting
 * past its limit (it would name a JSON column of a document the user never wrote), or a key that
 * is a mapping or list (JavaScript would turn it into a kilobytes-long "unknown field").
 * Iterative: the document may be nested deeper than the stack.
 */
export function structureProblem(root: Node | null): [number, string] | undefined {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    const at = (node as Node).range?.[0] ?? 0;
    if (depth >= MAX_NESTING) return [at, `nested deeper than ${MAX_NESTING} levels of mappings and lists`];
    for (const item of node.items as unknown[]) {
      if (isMap(node)) {
        const pair = item as Pair<unknown, unknown>;
        if (pair.key !== null && !isScalar(pair.key)) return [(pair.key as Node).range?.[0] ?? at, "a key must be a plain name, not a mapping or a list"];
        stack.push([pair.value, depth + 1]);
      } else stack.push([item, depth + 1]);
    }
  }
  return undefined;
}

/** The YAML parser's message; running out of stack is its way of saying "nested too deeply". */
export function parseMessage(message: string): string {
  return /call stack/i.test(message) ? `nested too deeply to read (the filter allows ${MAX_NESTING} levels of mappings and lists)` : message;
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
    throw new DocumentError(`${display(file)}:${line}:${col}: ${parseMessage(e.message)}`);
  }
  const problem = structureProblem(doc.contents as Node | null);
  if (problem) {
    const { line, col } = lines.linePos(problem[0]);
    throw new DocumentError(`${display(file)}:${line}:${col}: ${problem[1]}`);
  }
  const value: unknown = doc.toJS();
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new DocumentError(`${display(file)}:1:1: expected a mapping (key: value) at the top level`);
  }
  return new LoadedDocument(file, value as Record<string, unknown>, doc.contents as Node | null, lines);
}

/**
 * The module's policy error lines (`failover: policy: routes[0].x: problem`) prefixed with the
 * `file:line:column` that wrote the member, when `json` (the text the module was given) is what
 * the file holds now; otherwise, or for a line without a path, the line as it is.
 */
export function locatePolicyErrors(file: string, json: string, lines: readonly string[]): string[] {
  let doc: LoadedDocument;
  try {
    doc = loadDocument(file);
  } catch {
    return [...lines];
  }
  if (JSON.stringify(doc.value) !== json) return [...lines];
  return lines.map((l) => locateLine(l, (path) => doc.where(path)));
}

/** `failover: policy: routes[0].x: problem` -> `file:line:col: failover: policy: routes[0].x: problem`. */
export function locateLine(line: string, where: ((path: readonly PathSegment[]) => string) | undefined): string {
  const m = /^failover: policy: (\S+): /.exec(line);
  return m && where ? `${where(parsePath(m[1]))}: ${line}` : line;
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
