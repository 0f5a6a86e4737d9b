/**
 * `cityhall service print|install|uninstall [--role serve|leader|replica] [role flags…]`: a
 * hardened systemd unit that runs one CityHall daemon (see `_unit.ts` for the sandbox).
 *
 * - The role's flags are checked as the role checks them and copied into ExecStart, with
 *   paths made absolute (systemd does not run in the current directory). Files the service
 *   reads (the token, TLS certificate, key and CA) become `LoadCredential=` entries and reach
 *   it as `%d/NAME`, so they may stay readable by root only.
 * - The service runs as a dynamic user (`DynamicUser=yes`) by default: nothing to create, a
 *   uid no other process has, and systemd gives it the data directory (`StateDirectory=`,
 *   which must therefore be under /var/lib; the default is /var/lib/UNIT). `--user NAME` runs
 *   it as an existing user instead, e.g. to keep the data elsewhere or to read it as that user.
 * - ExecStart runs a compiled binary or the one-file bundle, never the source tree
 *   (`programWords`); `--exec PATH` names the binary or bundle explicitly.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { REPLICATION_PORT_DEFAULT } from "../limits.ts";
import { parseHostPort } from "../replication/mod.ts";
import { VERSION } from "../version.ts";
import { intFlag, type ParsedArgs, parseFlags, UsageError } from "./_args.ts";
import { printErr, printOut, writeOut } from "./_output.ts";
import {
  type ExecWord,
  hiddenBy,
  ProgramError,
  programWords,
  renderUnit,
  type Role,
  STATE_ROOT,
  stateDirectoryOf,
  type UnitSpec,
} from "./_unit.ts";
import { LEADER_FLAGS, REPLICA_FLAGS } from "./replication.ts";
import { serveSettings } from "./serve.ts";

export { quoteSystemdArg, renderUnit } from "./_unit.ts";

/** Where `install` writes units unless `--unit-path` says otherwise. */
export const UNIT_DIR_DEFAULT = "/etc/systemd/system";
/** `LimitNOFILE` of the unit: room for the default 10,000 clients plus files. */
export const UNIT_NOFILE_DEFAULT = 65536;
/** `TimeoutStopSec` of the unit: time for a graceful shutdown before SIGKILL. */
export const UNIT_STOP_TIMEOUT_S_DEFAULT = 30;

/** The unit name of each role when no `--unit-path` is given. */
const UNIT_NAMES: Record<Role, string> = {
  serve: "cityhall",
  leader: "cityhall-leader",
  replica: "cityhall-replica",
};

/** Help of `cityhall service`. */
export const SERVICE_HELP =
  `Usage: cityhall service [print|install|uninstall] [--role serve|leader|replica] [options]
                        [role options…]

Make CityHall a systemd service: a unit that runs "cityhall ROLE" with the role's options
given here, as an unprivileged user in a sandbox (systemd-analyze security rates it about
1.3 of 10, "OK"). The unit runs a compiled cityhall binary or the one-file bundle, never the
source tree: build one with "deno task compile" or "deno task bundle" and run this command
from it (or pass --exec).

Actions:
  print        Write the unit to stdout (default)
  install      Write the unit to --unit-path and print the commands to enable it
  uninstall    Remove the unit file (refused while the service is active or enabled)

Options:
  --role ROLE            serve (default), leader or replica; the role's options follow
  --exec PATH            The program the unit runs: a compiled binary, or a bundle (.js) run
                         by --deno (default: this program, when it is a binary or a bundle)
  --deno PATH            The deno that runs a bundle (default: the one running this command)
  --unit-path F          Unit file (default ${UNIT_DIR_DEFAULT}/cityhall.service, or
                         cityhall-leader.service / cityhall-replica.service for those roles)
  --user NAME            Run as this existing user (User=) instead of a dynamic user
                         (DynamicUser=yes); needed for a --data-dir outside ${STATE_ROOT}
  --limit-nofile N       Open files limit, LimitNOFILE= (default ${UNIT_NOFILE_DEFAULT})
  --stop-timeout-s N     Seconds to shut down gracefully, TimeoutStopSec= (default ${UNIT_STOP_TIMEOUT_S_DEFAULT})
  --data-dir DIR         Data directory (default ${STATE_ROOT}/UNIT, e.g. ${STATE_ROOT}/cityhall); under
                         ${STATE_ROOT} it is the unit's StateDirectory=, owned by the service user
  [serve options]        --bind --port --http-port --no-http --auth-token-file --tls-cert
                         --tls-key --sync --memtable-mb --cache-mb --row-cache-mb
                         --compaction-style --wal-segment-mb --max-clients
                         --idle-timeout-s --log-level --log-format --insecure-no-auth
  [leader options]       --replication-port (default ${REPLICATION_PORT_DEFAULT}) --replication-bind
                         --replication-retention-max-bytes
  [replica options]      --leader HOST:PORT (required) --tls-ca
  -h, --help             Show this help

The token and TLS files are passed with LoadCredential=, so they can stay readable by root
only. Example: cityhall service install --role replica --leader 10.0.0.5:7879 \\
                 --auth-token-file /etc/cityhall/token
`;

/** The flags each role takes. */
const ROLE_FLAGS: Record<Role, { string: readonly string[]; boolean: readonly string[] }> = {
  // serve with a replication flag is a leader (cityhall serve --help).
  serve: LEADER_FLAGS,
  leader: LEADER_FLAGS,
  replica: REPLICA_FLAGS,
};

const OWN_FLAGS = ["role", "exec", "deno", "unit-path", "user", "limit-nofile", "stop-timeout-s"];

const SERVICE_FLAGS = {
  string: [...new Set([...OWN_FLAGS, ...Object.values(ROLE_FLAGS).flatMap((f) => f.string)])],
  boolean: [...new Set(Object.values(ROLE_FLAGS).flatMap((f) => f.boolean))],
};

/** Flags naming a file the service reads, and the credential name it gets in the unit. */
const CREDENTIAL_FLAGS: Record<string, string> = {
  "auth-token-file": "auth-token",
  "tls-cert": "tls-cert",
  "tls-key": "tls-key",
  "tls-ca": "tls-ca",
};

function absolute(path: string): string {
  return isAbsolute(path) ? path : resolve(path);
}

function roleOf(parsed: ParsedArgs): Role {
  const role = parsed.strings.get("role") ?? "serve";
  if (role !== "serve" && role !== "leader" && role !== "replica") {
    throw new UsageError(
      "service",
      `invalid --role ${JSON.stringify(role)}: use serve, leader or replica`,
    );
  }
  return role;
}

/** Checks the role's flags as the role would; throws `UsageError`. */
async function checkRoleFlags(role: Role, parsed: ParsedArgs, dataDir: string): Promise<void> {
  const allowed = new Set([...OWN_FLAGS, ...ROLE_FLAGS[role].string, ...ROLE_FLAGS[role].boolean]);
  for (const name of [...parsed.strings.keys(), ...parsed.booleans]) {
    if (name !== "help" && !allowed.has(name)) {
      throw new UsageError("service", `--${name} is not an option of --role ${role}`);
    }
  }
  if (parsed.booleans.has("recover-wal-past-damage")) {
    // A unit restarts the server for good: this flag is for one start by hand.
    throw new UsageError(
      "service",
      "--recover-wal-past-damage is for one start by hand, not for a unit",
    );
  }
  const strings = new Map(parsed.strings);
  strings.set("data-dir", dataDir);
  await serveSettings("service", { ...parsed, strings, positionals: [] }, { readToken: false });
  if (role !== "serve" || parsed.strings.has("replication-port")) {
    intFlag("service", parsed, "replication-port", { min: 0, max: 65535 });
  }
  intFlag("service", parsed, "replication-retention-max-bytes", {
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  });
  if (role === "replica") {
    const leader = parsed.strings.get("leader");
    if (leader === undefined) {
      throw new UsageError("service", "--role replica needs --leader HOST:PORT");
    }
    try {
      parseHostPort(leader);
    } catch (err) {
      throw new UsageError("service", (err as Error).message);
    }
  }
}

/** Where the data lives and who may write it; throws `UsageError` on a place that cannot work. */
function checkDataDir(dataDir: string, user: string | undefined): void {
  const hidden = hiddenBy(dataDir);
  if (hidden !== undefined) {
    throw new UsageError(
      "service",
      `--data-dir ${dataDir} is under ${hidden.root}, which the service cannot see ` +
        `(${hidden.setting}): use a directory under ${STATE_ROOT}`,
    );
  }
  if (stateDirectoryOf(dataDir) === undefined && user === undefined) {
    throw new UsageError(
      "service",
      `--data-dir ${dataDir} is outside ${STATE_ROOT}: a dynamic user can only be given a ` +
        `directory there (StateDirectory=); use one, or run as an existing user with --user NAME`,
    );
  }
}

/** The unit for this command line. */
async function buildSpec(parsed: ParsedArgs, role: Role, unitName: string): Promise<UnitSpec> {
  const user = parsed.strings.get("user");
  if (user !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/i.test(user)) {
    throw new UsageError("service", `invalid --user ${JSON.stringify(user)}: not a user name`);
  }
  const dataDir = absolute(parsed.strings.get("data-dir") ?? `${STATE_ROOT}/${unitName}`);
  checkDataDir(dataDir, user);
  await checkRoleFlags(role, parsed, dataDir);
  let program: string[];
  try {
    const exec = parsed.strings.get("exec");
    const deno = parsed.strings.get("deno");
    program = programWords(
      { execPath: Deno.execPath(), mainModule: Deno.mainModule },
      {
        exec: exec === undefined ? undefined : absolute(exec),
        deno: deno === undefined ? undefined : absolute(deno),
      },
    );
  } catch (err) {
    if (err instanceof ProgramError) throw new UsageError("service", err.message);
    throw err;
  }
  const args: ExecWord[] = [role, "--data-dir", dataDir];
  const credentials: [string, string][] = [];
  for (const name of ROLE_FLAGS[role].string) {
    const value = parsed.strings.get(name);
    if (value === undefined || name === "data-dir") continue;
    const credential = CREDENTIAL_FLAGS[name];
    if (credential !== undefined) {
      credentials.push([credential, absolute(value)]);
      args.push(`--${name}`, { specifier: `%d/${credential}` });
    } else {
      // Repeatable flags (`--remote-write`) keep every value.
      for (const v of parsed.lists?.get(name) ?? [value]) args.push(`--${name}`, v);
    }
  }
  for (const name of ROLE_FLAGS[role].boolean) {
    if (parsed.booleans.has(name)) args.push(`--${name}`);
  }
  // The bundle runs under deno, which wants a cache directory and would check for updates.
  const bundle = program.length > 1;
  return {
    role,
    unitName,
    program,
    args,
    credentials,
    dataDir,
    user,
    environment: bundle ? [`DENO_DIR=/var/cache/${unitName}`, "DENO_NO_UPDATE_CHECK=1"] : [],
    cacheDirectory: bundle ? unitName : undefined,
    limitNofile: intFlag("service", parsed, "limit-nofile", { min: 1024, max: 1 << 24 }) ??
      UNIT_NOFILE_DEFAULT,
    stopTimeoutS: intFlag("service", parsed, "stop-timeout-s", { min: 1, max: 3600 }) ??
      UNIT_STOP_TIMEOUT_S_DEFAULT,
    generatedBy: `cityhall ${VERSION} (cityhall service${
      role === "serve" ? "" : ` --role ${role}`
    })`,
  };
}

async function systemctlSays(args: string[]): Promise<boolean | undefined> {
  try {
    const out = await new Deno.Command("systemctl", { args, stdout: "null", stderr: "null" })
      .output();
    return out.success;
  } catch {
    // No systemctl here (a container, macOS): nothing to ask.
    return undefined;
  }
}

/** `cityhall service …`; returns the exit code. */
export async function serviceCommand(args: string[]): Promise<number> {
  const parsed = parseFlags("service", args, SERVICE_FLAGS);
  if (parsed.booleans.has("help")) {
    printOut(SERVICE_HELP);
    return 0;
  }
  const [action = "print", ...extra] = parsed.positionals;
  if (!["print", "install", "uninstall"].includes(action)) {
    throw new UsageError("service", `unknown action '${action}' (use print, install or uninstall)`);
  }
  if (extra.length > 0) throw new UsageError("service", `unexpected argument '${extra[0]}'`);
  const role = roleOf(parsed);
  const unitPath = absolute(
    parsed.strings.get("unit-path") ?? `${UNIT_DIR_DEFAULT}/${UNIT_NAMES[role]}.service`,
  );
  const unitName = unitPath.slice(unitPath.lastIndexOf("/") + 1).replace(/\.service$/, "");
  if (action === "uninstall") return await uninstall(unitPath, unitName);
  const spec = await buildSpec(parsed, role, unitName);
  const unit = renderUnit(spec);
  if (action === "print") {
    writeOut(unit);
    return 0;
  }
  try {
    await Deno.writeTextFile(unitPath, unit, { mode: 0o644 });
  } catch (err) {
    const reason = err instanceof Deno.errors.PermissionDenied
      ? "permission denied (run as root, e.g. with sudo, or pass --unit-path)"
      : err instanceof Error
      ? err.message
      : String(err);
    printErr(`cityhall service: Cannot write ${unitPath}: ${reason}`);
    return 1;
  }
  printInstallSteps(spec, unitPath);
  return 0;
}

function printInstallSteps(spec: UnitSpec, unitPath: string): void {
  printOut(`Wrote ${unitPath}. Data directory: ${spec.dataDir}`);
  if (spec.user === undefined) {
    printOut("It runs as a dynamic user that systemd creates and gives the data directory.");
  } else {
    printOut(
      `It runs as ${spec.user}; create that user if it does not exist:\n` +
        `  useradd --system --no-create-home --shell /usr/sbin/nologin ${spec.user}`,
    );
    if (stateDirectoryOf(spec.dataDir) === undefined) {
      printOut(
        `and give it the data directory:\n` +
          `  mkdir -p ${spec.dataDir} && chown ${spec.user}: ${spec.dataDir} && ` +
          `chmod 0700 ${spec.dataDir}`,
      );
    }
  }
  const name = spec.unitName;
  printOut("Now run:");
  printOut(`  systemctl daemon-reload && systemctl enable --now ${name}`);
  printOut(`Check: systemctl status ${name}; systemd-analyze security ${name}`);
  printOut(`Logs: journalctl -u ${name} -f`);
}

async function uninstall(unitPath: string, unitName: string): Promise<number> {
  const active = await systemctlSays(["is-active", "--quiet", unitName]);
  const enabled = await systemctlSays(["is-enabled", "--quiet", unitName]);
  if (active === true || enabled === true) {
    printErr(
      `cityhall service: ${unitName} is still ${active ? "running" : "enabled"}; run first:\n` +
        `  systemctl disable --now ${unitName}`,
    );
    return 1;
  }
  try {
    await Deno.remove(unitPath);
  } catch (err) {
    const reason = err instanceof Deno.errors.NotFound
      ? "no such file"
      : err instanceof Deno.errors.PermissionDenied
      ? "permission denied (run as root, e.g. with sudo)"
      : err instanceof Error
      ? err.message
      : String(err);
    printErr(`cityhall service: Cannot remove ${unitPath}: ${reason}`);
    return 1;
  }
  printOut(`Removed ${unitPath}. If the service was enabled, it should have been stopped with:`);
  printOut(`  systemctl disable --now ${unitName}`);
  printOut("Now run: systemctl daemon-reload");
  return 0;
}
