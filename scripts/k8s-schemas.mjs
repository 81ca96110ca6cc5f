#!/usr/bin/env node
// Writes the FieldSchemas the validator ships (extproc/envoy-config/validate/k8s-schemas/), for a project's CRDs:
//   node scripts/k8s-schemas.mjs OUT.json "where the CRDs are from (repo path @ commit)" CRD.yaml...
// or for the core kinds, from @kubernetes/client-node's models (see k8s-core-schema.mjs):
//   node scripts/k8s-schemas.mjs OUT.json --core
// Each served version of each CRD becomes a field tree (fieldSchema in k8s-schema.ts: fields, types,
// enums, required members and value limits; no descriptions, defaults or CEL rules); versions with
// the same tree share one entry. test/k8s-knowledge.test.ts checks the shipped trees against the CRDs.
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { build } from "./build.mjs";

const [out, source, ...files] = process.argv.slice(2);
if (!out || !source || (!files.length && source !== "--core")) {
  process.stderr.write("usage: node scripts/k8s-schemas.mjs OUT.json SOURCE CRD.yaml...\n       node scripts/k8s-schemas.mjs OUT.json --core\n");
  process.exit(2);
}
await build();
if (source === "--core") {
  const { coreSchemaFile } = await import("./k8s-core-schema.mjs");
  const file = coreSchemaFile();
  const defs = Object.entries(file.defs).map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  const kinds = file.kinds.map((k) => `    ${JSON.stringify(k)}`);
  writeFileSync(out, `{\n  "source": ${JSON.stringify(file.source)},\n  "defs": {\n${defs.join(",\n")}\n  },\n  "kinds": [\n${kinds.join(",\n")}\n  ]\n}\n`);
  process.stderr.write(`${out}: ${kinds.length} kinds, ${defs.length} definitions\n`);
  process.exit(0);
}
const { fieldSchema } = await import("../dist/envoy-config/validate/k8s-schema.js");
const kinds = [];
for (const file of files) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const crd = doc.toJS();
    if (crd?.kind !== "CustomResourceDefinition") continue;
    for (const v of crd.spec.versions.filter((x) => x.served)) {
      const schema = fieldSchema(v.schema.openAPIV3Schema);
      const same = kinds.find((k) => k.group === crd.spec.group && k.kind === crd.spec.names.kind && JSON.stringify(k.schema) === JSON.stringify(schema));
      if (same) same.versions.push(v.name);
      else kinds.push({ group: crd.spec.group, kind: crd.spec.names.kind, versions: [v.name], schema });
    }
  }
}
const lines = kinds.map((k) => `    ${JSON.stringify(k)}`);
writeFileSync(out, `{\n  "source": ${JSON.stringify(source)},\n  "kinds": [\n${lines.join(",\n")}\n  ]\n}\n`);
process.stderr.write(`${out}: ${kinds.length} kind entries\n`);
