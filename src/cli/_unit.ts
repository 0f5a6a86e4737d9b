/**
 * The systemd unit `cityhall service` writes, as text: which program it runs (a compiled
 * binary or the one-file bundle, never the source tree) and the sandbox it runs in.
 * ARCHITECTURE.md § "Command line" shows a generated unit and its `systemd-analyze security`
 * score.
 *
 * The sandbox: a dynamic user (or a named one) that owns only the data directory
 * (`StateDirectory=`, mode 0700, `UMask=0077`), the whole OS read-only (`ProtectSystem=strict`),
 * no home directories, a private /tmp and /dev, no capabilities, internet and local sockets
 * only, and the `@system-service` system calls. Two things are deliberately left open:
 * `MemoryDenyWriteExecute=` (V8 compiles JavaScript to machine code in writable memory and
 * would not start) and `IPAddressDeny=` (the clients' addresses are the operator's to list).
 * Secrets (token, TLS key) reach the service through `LoadCredential=`, so they can stay
 * root-only files that the service user could not otherwise read.
 *
 * @module
 */

import { basename } from "node:path";
import { fileURLToPath } from "node:url";

/** The daemon roles a unit can run. */
export type Role = "serve" | "leader" | "replica";

/** A word of ExecStart: literal text (quoted as needed) or a systemd specifier expression. */
export type ExecWord = string | { specifier: string };

/** Everything the unit says. */
export interface UnitSpec {
  /** The daemon command. */
  role: Role;
  /** The unit's name without `.service`. */
  unitName: string;
  /** The program ExecStart runs, as absolute paths and its own arguments. */
  program: string[];
  /** The role and its flags. */
  args: ExecWord[];
  /** `LoadCredential=` pairs: the name under `%d/` and the file it is read from. */
  credentials: [string, string][];
  /** The absolute data directory. */
  dataDir: string;
  /** `User=`; undefined for `DynamicUser=yes`. */
  user: string | undefined;
  /** `Environment=` assignments. */
  environment: string[];
  /** `CacheDirectory=` (the bundle form's DENO_DIR), if any. */
  cacheDirectory: string | undefined;
  /** `LimitNOFILE=`. */
  limitNofile: number;
  /** `TimeoutStopSec=`. */
  stopTimeoutS: number;
  /** What generated the unit (version and command), for its header comment. */
  generatedBy: string;
}

/** Where systemd keeps `StateDirectory=` directories. */
export const STATE_ROOT = "/var/lib";

/** Directories the sandbox hides from the service, with the setting that hides them. */
const HIDDEN_ROOTS: [string, string][] = [
  ["/home", "ProtectHome=yes"],
  ["/root", "ProtectHome=yes"],
  ["/run/user", "ProtectHome=yes"],
  ["/tmp", "PrivateTmp=yes"],
  ["/var/tmp", "PrivateTmp=yes"],
];

/** The setting that hides `path` from the service, if one does. */
export function hiddenBy(path: string): { root: string; setting: string } | undefined {
  for (const [root, setting] of HIDDEN_ROOTS) {
    if (path === root || path.startsWith(root + "/")) return { root, setting };
  }
  return undefined;
}

/** `StateDirectory=` value for a data directory under /var/lib, else undefined. */
export function stateDirectoryOf(dataDir: string): string | undefined {
  if (!dataDir.startsWith(STATE_ROOT + "/")) return undefined;
  const rel = dataDir.slice(STATE_ROOT.length + 1).replace(/\/+$/, "");
  if (rel === "" || rel.split("/").some((p) => p === "" || p === "." || p === "..")) {
    return undefined;
  }
  return rel;
}

/** Quotes one ExecStart word for systemd (`"…"` with `\\` escapes; `%` and `$` doubled). */
export function quoteSystemdArg(arg: string): string {
  const escaped = arg.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return '"' + escaped.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") + '"';
}

function execWord(word: ExecWord): string {
  return typeof word === "string" ? quoteSystemdArg(word) : word.specifier;
}

/** The program a unit may run was not found or not usable; the message says what to do. */
export class ProgramError extends Error {
  /** Creates the error with what to do in `message`. */
  constructor(message: string) {
    super(message);
    this.name = "ProgramError";
  }
}

/** Where this process came from: `Deno.execPath()` and `Deno.mainModule`. */
export interface ProgramOrigin {
  /** The running executable. */
  execPath: string;
  /** The main module's URL. */
  mainModule: string;
}

function isDeno(execPath: string): boolean {
  const name = basename(execPath).toLowerCase();
  return name === "deno" || name === "deno.exe";
}

const BUILD_HINT = "build it first: `deno task compile` makes dist/cityhall-<target> (install " +
  "it as /usr/local/bin/cityhall), or `deno task bundle` makes dist/cityhall.js (install it " +
  "as /usr/local/lib/cityhall/cityhall.js); then run `cityhall service` from the build, or " +
  "pass --exec PATH";

function checkVisible(path: string, flag: string): void {
  const hidden = hiddenBy(path);
  if (hidden === undefined) return;
  throw new ProgramError(
    `${path} is under ${hidden.root}, which the service cannot see (${hidden.setting}): ` +
      `install it elsewhere (e.g. install -m 0755 ${path} /usr/local/bin/${basename(path)}) ` +
      `and pass ${flag} with the new path`,
  );
}

/**
 * The program words of ExecStart: a compiled binary runs itself; the one-file bundle runs as
 * `DENO run -A --no-config BUNDLE` (no deno.json near it is read, so nothing is fetched).
 * From the source tree it refuses: `deno run src/main.ts` downloads npm packages at its first
 * start, which fails offline and as a user without a home directory.
 */
export function programWords(
  origin: ProgramOrigin,
  options: { exec?: string | undefined; deno?: string | undefined },
): string[] {
  const denoFor = (bundle: string): string[] => {
    const deno = options.deno ?? (isDeno(origin.execPath) ? origin.execPath : undefined);
    if (deno === undefined) {
      throw new ProgramError(`--exec ${bundle} is a bundle: pass --deno PATH, the deno to run it`);
    }
    checkVisible(deno, "--deno");
    checkVisible(bundle, "--exec");
    return [deno, "run", "-A", "--no-config", bundle];
  };
  if (options.exec !== undefined) {
    if (options.exec.endsWith(".js")) return denoFor(options.exec);
    checkVisible(options.exec, "--exec");
    return [options.exec];
  }
  if (!isDeno(origin.execPath)) {
    checkVisible(origin.execPath, "--exec");
    return [origin.execPath];
  }
  const main = origin.mainModule.startsWith("file:")
    ? fileURLToPath(origin.mainModule)
    : origin.mainModule;
  if (main.endsWith(".js")) return denoFor(main);
  throw new ProgramError(
    `Cannot make a unit that runs the source tree (${main}): deno would download npm ` +
      `packages when the service starts, which fails offline or without a home directory; ` +
      BUILD_HINT,
  );
}

const ROLE_TITLES: Record<Role, string> = {
  serve: "server",
  leader: "replication leader",
  replica: "read replica",
};

/** Renders the unit text. */
export function renderUnit(spec: UnitSpec): string {
  const state = stateDirectoryOf(spec.dataDir);
  const lines = [
    `# CityHall ${ROLE_TITLES[spec.role]}: unit generated by ${spec.generatedBy}`,
    `# Data directory: ${spec.dataDir}` +
    (state === undefined ? "" : " (StateDirectory=: systemd creates it and gives it to the user)"),
    "# Check the sandbox with: systemd-analyze security " + `${spec.unitName}.service`,
    "[Unit]",
    `Description=CityHall ${ROLE_TITLES[spec.role]} (cityhall ${spec.role})`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=exec",
    `ExecStart=${[...spec.program, ...spec.args].map(execWord).join(" ")}`,
    ...spec.credentials.map(([name, path]) => `LoadCredential=${name}:${path}`),
    ...spec.environment.map((e) => `Environment=${quoteSystemdArg(e)}`),
    "Restart=on-failure",
    "RestartSec=2",
    "# Exit 2 is a usage error (a bad flag): restarting would not help.",
    "RestartPreventExitStatus=2",
    "# SIGTERM starts a graceful shutdown: in-flight commands finish, the engine closes.",
    "KillSignal=SIGTERM",
    `TimeoutStopSec=${spec.stopTimeoutS}`,
    `LimitNOFILE=${spec.limitNofile}`,
    "",
    "# Who runs it and what it may write: the data directory only, files 0600 (UMask=0077).",
  ];
  if (spec.user === undefined) lines.push("DynamicUser=yes");
  else lines.push(`User=${spec.user}`);
  if (state !== undefined) lines.push(`StateDirectory=${state}`, "StateDirectoryMode=0700");
  else lines.push(`ReadWritePaths=${quoteSystemdArg(spec.dataDir)}`);
  if (spec.cacheDirectory !== undefined) {
    lines.push(`CacheDirectory=${spec.cacheDirectory}`, "CacheDirectoryMode=0700");
  }
  lines.push(
    "UMask=0077",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "PrivateUsers=yes",
    "PrivateMounts=yes",
    "",
    "# No privileges, no kernel or clock changes, internet and local sockets only.",
    "NoNewPrivileges=yes",
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "ProtectProc=invisible",
    "ProcSubset=pid",
    "RemoveIPC=yes",
    "KeyringMode=private",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallFilter=~@privileged",
    "# A refused system call fails with EPERM instead of killing the server.",
    "SystemCallErrorNumber=EPERM",
    "# Not set on purpose: MemoryDenyWriteExecute= (V8's JIT needs writable code memory) and",
    "# IPAddressDeny= (list your clients with IPAddressAllow= and IPAddressDeny=any if you can).",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  );
  return lines.join("\n");
}
