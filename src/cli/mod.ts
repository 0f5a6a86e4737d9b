/**
 * The `cityhall` command line: dispatches to subcommands.
 *
 * @module
 */

import { VERSION } from "../version.ts";
import { selftest } from "./selftest.ts";

const HELP = `cityhall ${VERSION}: a durable key-value and time-series database for edge hardware

Usage: cityhall <command> [options]

Commands:
  selftest     Open a database in a temporary directory and check that it works
  help         Show this help

Options:
  --version    Print the version and exit
  -h, --help   Show this help
`;

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === "--version" || command === "-V") {
    console.log(`cityhall ${VERSION}`);
    return 0;
  }
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    console.log(HELP);
    return 0;
  }
  if (command === "selftest") return await selftest();
  console.error(`cityhall: unknown command '${command}' (see cityhall --help)`);
  void rest;
  return 2;
}
