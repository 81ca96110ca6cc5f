// The schema check on its own: how a FieldSchema reads a CRD's schema and how ajv's findings are
// reported (the resources' tests show it on the kinds the project ships).
import { describe, expect, it } from "vitest";
import { Issues, describeIssue } from "../extproc/envoy-config/validate/issues.js";
import { type FieldSchema, SchemaChecker, fieldSchema } from "../extproc/envoy-config/validate/k8s-schema.js";

function check(schema: FieldSchema, value: unknown): string[] {
  const issues = new Issues();
  new SchemaChecker(schema).check(value, issues);
  return issues.list.map(describeIssue);
}

describe("a FieldSchema", () => {
  it("keeps what says what may be written, and drops descriptions, defaults, formats and CEL rules", () => {
    const crd = {
      type: "object",
      description: "a widget",
      "x-kubernetes-validations": [{ rule: "self.size > 0" }],
      properties: { size: { type: "integer", format: "int32", default: 1, minimum: 1 }, port: { "x-kubernetes-int-or-string": true, anyOf: [{ type: "integer" }, { type: "string" }] } },
      required: ["size"],
    };
    expect(fieldSchema(crd)).toEqual({ type: "object", required: ["size"], properties: { size: { type: "integer", minimum: 1 }, port: { "x-kubernetes-int-or-string": true, anyOf: [{ type: "integer" }, { type: "string" }] } } });
  });

  it("closes objects with properties, leaves maps and preserved objects open, and says int-or-string once", () => {
    const schema: FieldSchema = {
      type: "object",
      properties: {
        labels: { type: "object", additionalProperties: { type: "string" } },
        config: { type: "object", "x-kubernetes-preserve-unknown-fields": true, properties: { a: { type: "string" } } },
        port: { "x-kubernetes-int-or-string": true },
        template: { type: "object", "x-kubernetes-embedded-resource": true, properties: { spec: { type: "object" } } },
      },
    };
    expect(check(schema, { labels: { x: "y" }, config: { b: 1 }, port: 80, template: { apiVersion: "v1", kind: "Pod", metadata: {}, spec: {} } })).toEqual([]);
    expect(check(schema, { labels: { x: 1 }, port: true, template: { spec: {}, extra: 1 }, other: 1 })).toEqual([
      'other: unknown field "other" (known here: labels, config, port, template)',
      "labels.x: expected a string, got a number (quote it)",
      "port: expected an integer or a string, got a boolean",
      'template.extra: unknown field "extra" (known here: apiVersion, kind, metadata, spec)',
    ]);
  });

  it("reports a schema ajv cannot compile as an issue, not a crash", () => {
    expect(check({ type: "strng" } as unknown as FieldSchema, {})).toEqual([expect.stringMatching(/^\(document\): the kind's schema cannot be used: schema is invalid: /)]);
  });

  it("runs patterns in RE2, as the API server does: linear time, and RE2's (?i)", () => {
    // Gateway API's header value pattern; JavaScript's RegExp backtracks exponentially on it.
    const value: FieldSchema = { type: "object", properties: { v: { type: "string", pattern: "^[!-~]+([\\t ]?[!-~]+)*$" }, mode: { type: "string", pattern: "^(?i)(abort|warn)?$" } } };
    expect(check(value, { v: `${"a".repeat(100_000)} `, mode: "WARN" })).toEqual([`v: "${"a".repeat(76)}... does not match ^[!-~]+([\\t ]?[!-~]+)*$`]);
    expect(check(value, { v: "a b", mode: "stop" })).toEqual(['mode: "stop" does not match ^(?i)(abort|warn)?$']);
    expect(fieldSchema({ type: "string", pattern: "(?<=x)a" })).toEqual({ type: "string" });
  });
});
