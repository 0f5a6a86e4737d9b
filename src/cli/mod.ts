/**
 * The `cityhall` command line: dispatches to subcommands.
 *
 * Exit codes, the same for every command: 0 success; 1 an operating failure (key not found,
 * server error, cannot connect, cannot open the data directory, port in use); 2 a usage error
 * (unknown command or flag, bad value, refused insecure bind); 130 `serve` stopped by a second
 * signal.
 *
 * @module
 */

import { VERSION } from "../version.ts";
import { EXIT_USAGE, splitCommand, UsageError } from "./_args.ts";
import { CityHallError } from "../errors.ts";
import { describeFsError, formatFsError } from "./_fs_errors.ts";
import { printErr, printOut } from "./_output.ts";
import { LEADER_ONLY, UPLINK_ONLY } from "./_role_flags.ts";

const HELP = `cityhall ${VERSION}: a durable key-value and time-series database for edge hardware

Usage: cityhall <command> [options]

Commands:
  serve        Run the server (Redis protocol on 7878, HTTP API on 7880)
  leader       Run the server with the replication listener on (serve + --replication-port)
  replica      Follow a leader and serve reads (replica status: its state, from disk)
  hub          Gather a fleet's sites into one server (hub site add|list|remove|reset,
               hub import); edges dial it with "serve --uplink HOST:PORT --site NAME"
  uplink       An edge's uplink status, from disk (uplink status)
  export       Write what an edge's hub has not acknowledged to a .chsync file
  client       Talk to a server: put/get/del/scan/stats/ping/info, or an interactive prompt
  put K V      Store a value (alias: set); through the server if one answers, else directly
  get K        Print a value; exit 1 with "not found" on stderr if missing
  del K\u2026       Delete keys (aliases: delete, rm)
  scan PREFIX  Print "key<TAB>value" lines for keys starting with PREFIX
  ts           Time series: add a sample, print a range, a series' info, list series
  service      Print or install a systemd unit for serve, leader or replica
  verify       Check every checksum of a data directory, offline (exit 1 when damaged)
  salvage      Export what a damaged data directory still holds (load it with "import")
  import       Load a salvage export into a new data directory
  selftest     Open a database in a temporary directory and check that it works
  version      Print the version (also --version, -V)
  help [CMD]   Show this help, or a command's

Options:
  --version    Print the version and exit
  -h, --help   Show this help

Run "cityhall <command> --help" for a command's options.
Exit codes: 0 ok, 1 failure (not found, cannot connect, \u2026), 2 usage error.
`;

const SHORTCUTS = new Set(["put", "set", "get", "del", "delete", "rm", "scan"]);

/**
 * Each command's help. Commands are imported when run (dynamic `import()` of a static
 * specifier: still in the module graph, so `deno compile` and `deno bundle` include them), so
 * that `serve` does not load, parse and keep the code of every other command (RSS).
 */
const HELPS: Record<string, () => Promise<string>> = {
  serve: async () => (await import("./serve.ts")).SERVE_HELP,
  client: async () => (await import("./client.ts")).CLIENT_HELP,
  service: async () => (await import("./service.ts")).SERVICE_HELP,
  ts: async () => (await import("./ts.ts")).TS_HELP,
  leader: async () => (await import("./replication.ts")).LEADER_HELP,
  replica: async () => (await import("./replication.ts")).REPLICA_HELP,
  hub: async () => (await import("./hub.ts")).HUB_HELP,
  uplink: async () => (await import("./uplink.ts")).UPLINK_HELP,
  export: async () => (await import("./uplink.ts")).EXPORT_HELP,
  version: () =>
    Promise.resolve(
      'Usage: cityhall version\n\nPrint "cityhall VERSION" and exit (the same as cityhall --version).\n',
    ),
  verify: async () => (await import("./salvage.ts")).VERIFY_HELP,
  salvage: async () => (await import("./salvage.ts")).SALVAGE_HELP,
  import: async () => (await import("./salvage.ts")).IMPORT_HELP,
  selftest: () =>
    Promise.resolve(
      "Usage: cityhall selftest\n\nOpen a database in a temporary directory, write, " +
        "read, scan, flush, compact and reopen it, and check every answer. Exit 0 when all is well.\n",
    ),
};

/** True when `--name` (or `--name=...`) is among the flags of `args` (before any `--`). */
function hasFlag(args: readonly string[], name: string): boolean {
  for (const arg of args) {
    if (arg === "--") return false;
    if (arg === `--${name}` || arg.startsWith(`--${name}=`)) return true;
  }
  return false;
}

async function dispatch(command: string, rest: string[]): Promise<number> {
  switch (command) {
    case "serve": {
      // `serve --replication-port N` is `leader` (the same daemon with the listener on), and
      // `serve --uplink HOST:PORT` an edge of a fleet.
      const leader = LEADER_ONLY.some((flag) => hasFlag(rest, flag));
      const edge = UPLINK_ONLY.some((flag) => hasFlag(rest, flag));
      if (leader && edge) {
        throw new UsageError(
          "serve",
          "--uplink and --replication-port exclude each other (an edge's WAL is kept for its hub)",
        );
      }
      if (edge) return await (await import("./uplink.ts")).uplinkServeCommand(rest);
      if (leader) return await (await import("./replication.ts")).leaderCommand(rest, "serve");
      return await (await import("./serve.ts")).serveCommand(rest);
    }
    case "hub":
      return await (await import("./hub.ts")).hubCommand(rest);
    case "uplink":
      return (await import("./uplink.ts")).uplinkCommand(rest);
    case "export":
      return await (await import("./uplink.ts")).exportCommand(rest);
    case "client":
      return await (await import("./client.ts")).clientCommand(rest);
    case "service":
      return await (await import("./service.ts")).serviceCommand(rest);
    case "leader":
      return await (await import("./replication.ts")).leaderCommand(rest);
    case "replica":
      return await (await import("./replication.ts")).replicaCommand(rest);
    case "verify":
      return await (await import("./salvage.ts")).verifyCommand(rest);
    case "salvage":
      return await (await import("./salvage.ts")).salvageCommand(rest);
    case "import":
      return await (await import("./salvage.ts")).importCommand(rest);
    case "ts":
      return await (await import("./ts.ts")).tsCommand(rest);
    case "selftest":
      if (rest.includes("--help") || rest.includes("-h")) {
        printOut(await HELPS.selftest!());
        return 0;
      }
      if (rest.length > 0) throw new UsageError("selftest", `unexpected argument '${rest[0]}'`);
      return await (await import("./selftest.ts")).selftest();
    case "version":
      if (rest.includes("--help") || rest.includes("-h")) {
        printOut(await HELPS.version!());
        return 0;
      }
      if (rest.length > 0) throw new UsageError("version", `unexpected argument '${rest[0]}'`);
      printOut(`cityhall ${VERSION}`);
      return 0;
    case "help": {
      const topic = rest.find((a) => !a.startsWith("-"));
      if (topic === undefined) printOut(HELP);
      else if (SHORTCUTS.has(topic)) printOut((await import("./client.ts")).SHORTCUT_HELP);
      else if (HELPS[topic] !== undefined) printOut(await HELPS[topic]());
      else throw new UsageError("help", `unknown command '${topic}'`);
      return 0;
    }
  }
  if (SHORTCUTS.has(command)) {
    return await (await import("./client.ts")).shortcutCommand(command, rest);
  }
  throw new UsageError("", `unknown command '${command}'`);
}

/**
 * The last resort for an operating error no command caught (a file system that said no, a
 * CityHall error): one line and exit 1 instead of a stack trace. Anything else is a bug and
 * keeps its stack trace.
 */
function operatingFailure(command: string | undefined, err: unknown): number {
  const where = command === undefined ? "cityhall" : `cityhall ${command}`;
  const info = describeFsError(err);
  if (info !== undefined) printErr(`${where}: ${formatFsError(info)}`);
  else if (err instanceof CityHallError) printErr(`${where}: ${err.message}`);
  else throw err;
  return 1;
}

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const { command, rest } = splitCommand(args);
  try {
    if (command === undefined) {
      if (rest.includes("--version") || rest.includes("-V")) {
        printOut(`cityhall ${VERSION}`);
        return 0;
      }
      if (rest.length === 0 || rest.includes("--help") || rest.includes("-h")) {
        printOut(HELP);
        return 0;
      }
      throw new UsageError("", `missing command after ${rest.join(" ")}`);
    }
    return await dispatch(command, rest);
  } catch (err) {
    if (!(err instanceof UsageError)) return operatingFailure(command, err);
    const where = err.command === "" ? "cityhall" : `cityhall ${err.command}`;
    const help = err.command === "" ? "cityhall --help" : `cityhall ${err.command} --help`;
    printErr(`${where}: ${err.message} (see ${help})`);
    return EXIT_USAGE;
  }
}
