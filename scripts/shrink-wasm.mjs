#!/usr/bin/env node
// Re-optimizes a release module for size (scripts/build.mjs runs this after asc): drops the
// static objects' size words (static-block-sizes.mjs), then binaryen's default options, shrink
// level 2, and only the wasm features asc enables by default.
import { readFileSync, writeFileSync } from "node:fs";
import binaryen from "binaryen";
import { dropStaticBlockSizes } from "./static-block-sizes.mjs";

const file = process.argv[2];
const runtime = JSON.parse(readFileSync(new URL("../asconfig.json", import.meta.url), "utf8")).options.runtime;
if (runtime !== "minimal") throw new Error(`asconfig.json: runtime ${runtime}: static-block-sizes.mjs holds only for the minimal runtime`);
const mod = binaryen.readBinary(dropStaticBlockSizes(readFileSync(file)).bytes);
try {
  const F = binaryen.Features;
  mod.setFeatures(F.MVP | F.SignExt | F.MutableGlobals | F.NontrappingFPToInt | F.BulkMemory | F.BulkMemoryOpt);
  binaryen.setOptimizeLevel(2);
  binaryen.setShrinkLevel(2);
  mod.optimize();
  if (!mod.validate()) throw new Error(`${file}: binaryen produced an invalid module`);
  writeFileSync(file, mod.emitBinary());
} finally {
  mod.dispose();
}
