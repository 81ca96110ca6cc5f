#!/usr/bin/env node
// The `failover` command: builds what is stale (first run on a fresh clone), then runs the CLI.
import { build } from "../scripts/build.mjs";

await build();
const { main } = await import("../dist/cli.js");
process.exitCode = await main(process.argv.slice(2));
