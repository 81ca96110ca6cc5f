// One source for the ABI numbers both languages use: the host's enums are generated from the
// filter's assembly/abi/types.ts at build time (scripts/abi-gen.mjs). These checks fail when the
// generated file is stale or the host (source or compiled package) serves other numbers.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as published from "envoy-failover/host";
import * as host from "../extproc/host/index.js";
// @ts-expect-error: a plain .mjs build script, without type declarations
import { ABI_OUTPUT, ABI_SOURCE, abiModule, parseAbiEnums } from "../scripts/abi-gen.mjs";

type AbiEnum = { name: string; members: [string, number][] };
const root = join(import.meta.dirname, "..");
const enums: AbiEnum[] = parseAbiEnums(readFileSync(join(root, ABI_SOURCE), "utf8"));

/** A TypeScript numeric enum's members as [name, value] pairs (without the reverse mapping). */
const membersOf = (e: Record<string, string | number>) => Object.entries(e).filter(([, v]) => typeof v === "number");

describe("the ABI enums: one source", () => {
  it("reads every enum of the AssemblyScript side", () => {
    expect(enums.map((e) => e.name)).toEqual([
      "WasmResult", "LogLevel", "BufferType", "MapType", "MetricType", "StreamType", "HeadersStatus", "DataStatus", "TrailersStatus",
    ]);
  });

  it("the host's abi.ts is what the generator makes of the current AssemblyScript file", () => {
    expect(readFileSync(join(root, ABI_OUTPUT), "utf8")).toBe(abiModule(enums));
  });

  it("the host, from source and as the compiled package, serves exactly the AssemblyScript numbers", () => {
    for (const served of [host, published] as Record<string, unknown>[]) {
      for (const e of enums) expect([e.name, membersOf(served[e.name] as Record<string, number>)]).toEqual([e.name, e.members]);
    }
  });

  it("refuses an enum member it cannot read, naming file and line", () => {
    const bad = "// x\n\nexport enum MapType {\n  HttpRequestHeaders = 0,\n  Other = 1 << 2,\n}\n";
    expect(() => parseAbiEnums(bad, "types.ts")).toThrow('types.ts:3: enum MapType: "Other = 1 << 2" is not "Name = <integer>"');
  });
});
