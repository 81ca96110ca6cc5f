// fast-check arbitraries drawn from a JSON Schema (the subset schema/policy.schema.json uses):
// type, enum, minimum/maximum, pattern, oneOf, additionalProperties maps, arrays of items.
import fc from "fast-check";

export type Schema = Record<string, any>;

export class SchemaWalker {
  constructor(readonly root: Schema) {}

  /** Follows a local $ref. */
  deref(s: Schema): Schema {
    while (s && typeof s.$ref === "string") s = s.$ref.slice(2).split("/").reduce((o: Schema, k: string) => o[k], this.root);
    return s;
  }

  /** The subschema for a document path (property names and array indices), or undefined. */
  at(path: (string | number)[]): Schema | undefined {
    let s: Schema | undefined = this.deref(this.root);
    for (const seg of path) {
      if (!s) return undefined;
      if (typeof seg === "number") s = s.items && this.deref(s.items);
      else if (s.properties?.[seg]) s = this.deref(s.properties[seg]);
      else if (s.additionalProperties && typeof s.additionalProperties === "object") s = this.deref(s.additionalProperties);
      else return undefined;
    }
    return s;
  }

  /** Values the schema allows for a leaf (not objects with fixed properties, which callers build). */
  leaf(s: Schema): fc.Arbitrary<unknown> {
    s = this.deref(s);
    if (s.enum) return fc.constantFrom(...s.enum);
    if (s.oneOf) return fc.oneof(...s.oneOf.map((b: Schema) => this.leaf(b.type === "string" && s.examples ? { enum: s.examples } : b)));
    switch (s.type) {
      case "boolean":
        return fc.boolean();
      case "integer":
        return fc.integer({ min: s.minimum ?? -1e6, max: Math.min(s.maximum ?? 1e6, 1e7) });
      case "number":
        return fc.double({ min: s.minimum ?? -1e6, max: Math.min(s.maximum ?? 1e6, 1e7), noNaN: true, noDefaultInfinity: true });
      case "string": {
        if (s.examples) return fc.constantFrom(...s.examples);
        const base = s.pattern ? fc.stringMatching(new RegExp(s.pattern)) : fc.string({ unit: "grapheme-ascii", minLength: s.minLength ?? 0, maxLength: 20 });
        return base.filter((v) => v.length >= (s.minLength ?? 0) && v.length <= (s.maxLength ?? Infinity) && !(s.not?.pattern && new RegExp(s.not.pattern).test(v)));
      }
      case "array":
        return fc.array(this.leaf(s.items), { minLength: s.minItems ?? 0, maxLength: 4 });
      case "object":
        if (s.additionalProperties && typeof s.additionalProperties === "object" && !s.propertyNames) {
          return fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9.-]{0,10}$/), this.leaf(s.additionalProperties), { maxKeys: 3 });
        }
    }
    throw new Error(`no generator for schema ${JSON.stringify(s).slice(0, 120)}`);
  }
}
