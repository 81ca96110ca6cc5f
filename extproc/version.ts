// The package's version (package.json), for `failover --version`, failover_build_info and the image tag.
import { readFileSync } from "node:fs";

export const VERSION: string = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;
