#!/usr/bin/env node
// Re-optimizes a release module for size with binaryen's default options (scripts/build.mjs
// runs this after asc): shrink level 2, and only the wasm features asc enables by default.
import { readFileSync, writeFileSync } from "node:fs";
import binaryen from "binaryen";

const file = process.argv[2];
const mod = binaryen.readBinary(readFileSync(file));
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
