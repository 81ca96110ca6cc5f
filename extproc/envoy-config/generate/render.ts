// YAML output for the generated files: stable (the same input gives the same bytes), unfolded
// (long strings stay on one line, multi-line ones become block scalars), with a header comment.

import { Document, stringify } from "yaml";

export function stringifyYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** One or more YAML documents; `header` (lines of text) becomes a comment above the first. */
export function renderYaml(header: string[], docs: unknown[]): string {
  return docs
    .map((value, i) => {
      const doc = new Document(value, { aliasDuplicateObjects: false });
      if (i === 0) doc.commentBefore = header.map((line) => (line ? ` ${line}` : "")).join("\n");
      return doc.toString({ lineWidth: 0 });
    })
    .join("---\n");
}
