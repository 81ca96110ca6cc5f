// The `failover` command line.
import { parseArgs } from "node:util";

const HELP = `failover: locality- and health-aware failover for Envoy

usage: failover <command> [options]

commands:
  help                 this text
`;

export async function main(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false });
  const command = positionals[0] ?? "help";
  switch (command) {
    case "help":
      process.stdout.write(HELP);
      return 0;
    default:
      process.stderr.write(`failover: unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}
