// Reading config files the way their consumers do, and pointing back into them.
//
// Envoy reads YAML with yaml-cpp and Kubernetes with go-yaml; both take the YAML 1.1 words
// y/n/yes/no/on/off as booleans, where YAML 1.2 (the `yaml` package's default) reads strings. A
// file is parsed with those words as booleans, so `zone: on` is seen as the boolean Envoy would
// see and rejected for a string field, instead of passing here and failing in Envoy. JSON files
// parse the same way (YAML contains JSON).

import { LineCounter, parseAllDocuments } from "yaml";
import { offsetOf, parseMessage, structureProblem } from "../../module/policy-file.js";
import type { Node, ScalarTag } from "yaml";

export type Segment = string | number;
export type Path = readonly Segment[];

const YAML11_BOOL: ScalarTag = {
  tag: "tag:yaml.org,2002:bool",
  default: true,
  test: /^(?:[YyNn]|[Yy]es|YES|[Nn]o|NO|[Oo]n|ON|[Oo]ff|OFF)$/,
  resolve: (s: string) => /^(?:[Yy]|[Yy]es|YES|[Oo]n|ON)$/.test(s),
};

/** One YAML document of a file: its value and where its members are written. */
export class SourceDocument {
  constructor(
    readonly value: unknown,
    /** 0-based index of the document in its file. */
    readonly index: number,
    private readonly root: Node | null,
    private readonly lines: LineCounter,
  ) {}

  /** `line:column` of the member at `path` (its key, for a mapping member), or of its nearest existing parent. */
  where(path: Path): string {
    const { line, col } = this.lines.linePos(offsetOf(this.root, path));
    return `${line}:${col}`;
  }
}

export class ParseError extends Error {
  override name = "ParseError";
}

/** Every non-empty document of a YAML (or JSON) text. Throws ParseError with line and column. */
export function parseDocuments(text: string): SourceDocument[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, customTags: (tags) => [...tags, YAML11_BOOL] });
  const out: SourceDocument[] = [];
  for (const doc of Array.isArray(docs) ? docs : []) {
    const error = doc.errors[0];
    if (error) {
      const { line, col } = lines.linePos(error.pos[0]);
      throw new ParseError(`${line}:${col}: ${parseMessage(error.message)}`);
    }
    const problem = structureProblem(doc.contents as Node | null);
    if (problem) {
      const { line, col } = lines.linePos(problem[0]);
      throw new ParseError(`${line}:${col}: ${problem[1]}`);
    }
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (e) {
      // The yaml library refuses an alias that expands without bound (a "billion laughs" file).
      const { line, col } = lines.linePos(doc.contents?.range?.[0] ?? 0);
      throw new ParseError(`${line}:${col}: ${(e as Error).message}`);
    }
    if (value !== null && value !== undefined) out.push(new SourceDocument(value, out.length, doc.contents as Node | null, lines));
  }
  return out;
}

/** `a.b[0]["key.with.dots"].@type`: identifiers joined by dots, indices and other keys in brackets. */
export function formatPath(path: Path): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_@][A-Za-z0-9_]*$/.test(seg)) out += (out ? "." : "") + seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out || "(document)";
}
