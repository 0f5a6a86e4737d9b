/**
 * A hub's sites: `<data>/hub/sites.json`, written atomically (tmp, fsync, rename, fsync the
 * directory) under the lock file `<data>/hub/sites.lock`, by `cityhall hub site add|remove|
 * reset` and by the running hub (which records a site's edge id at first contact). The hub
 * reads the file again at every handshake and once a second, so a site added or removed
 * while it runs takes effect at once (ARCHITECTURE.md § "Sites and tokens").
 *
 * Tokens: 32 random bytes printed once as 43 base64url characters; only their SHA-256 is
 * stored. A presented token is hashed and compared in constant time with the named site's
 * hash, so a token lets an edge send as its own site and no other.
 *
 * @module
 */

import { timingSafeEqual } from "@std/crypto/timing-safe-equal";
import { CityHallError, LockedError } from "../errors.ts";
import { type FileSystem, joinPath, readWholeFile, writeFileAtomic } from "../fs/mod.ts";
import { HUB_SITES_MAX, SITE_TOKEN_BYTES } from "../limits.ts";
import { hex } from "./frames.ts";
import { siteNameProblem } from "./namespace.ts";

/** Directory of a hub's own files inside its data directory. */
export const HUB_DIR_NAME = "hub";
/** The site registry. */
export const SITES_FILE_NAME = "sites.json";
const SITES_LOCK_NAME = "sites.lock";
/** How long a writer waits for the registry lock (another command or the hub holds it). */
const SITES_LOCK_WAIT_MS = 5_000;

/** One registered site. */
export interface SiteRecord {
  /** The site's name: its keys arrive as `name/key`. */
  name: string;
  /** SHA-256 of the site's token, lowercase hex. */
  tokenSha256: string;
  /** When the site was added (Unix ms). */
  createdMs: number;
  /** The edge database id recorded at first contact (32 hex digits); null before. */
  edgeId: string | null;
}

interface SitesFile {
  version: 1;
  sites: SiteRecord[];
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

/** A new random site token (43 base64url characters). */
export function generateToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(SITE_TOKEN_BYTES));
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** SHA-256 of a token, hex (what `sites.json` stores). */
export async function tokenSha256(token: string): Promise<string> {
  return hex(await sha256(new TextEncoder().encode(token)));
}

/** True when `presented` is the token whose SHA-256 is `storedHex` (constant time). */
export async function tokenMatches(presented: Uint8Array, storedHex: string): Promise<boolean> {
  const stored = new Uint8Array(32);
  for (let i = 0; i < 32; i++) stored[i] = parseInt(storedHex.slice(2 * i, 2 * i + 2), 16);
  return timingSafeEqual(await sha256(presented), stored);
}

function sitesPath(dataDir: string): string {
  return joinPath(dataDir, HUB_DIR_NAME, SITES_FILE_NAME);
}

/** The registered sites, in name order (none when the file does not exist). */
export function loadSites(fs: FileSystem, dataDir: string): SiteRecord[] {
  const path = sitesPath(dataDir);
  if (fs.stat(path) === undefined) return [];
  let parsed: SitesFile;
  try {
    parsed = JSON.parse(new TextDecoder().decode(readWholeFile(fs, path))) as SitesFile;
  } catch (err) {
    throw new CityHallError(`Cannot read ${path}: ${(err as Error).message}`);
  }
  if (parsed?.version !== 1 || !Array.isArray(parsed.sites)) {
    throw new CityHallError(`Cannot read ${path}: not a CityHall site registry (version 1)`);
  }
  return parsed.sites;
}

function saveSites(fs: FileSystem, dataDir: string, sites: SiteRecord[]): void {
  const dir = joinPath(dataDir, HUB_DIR_NAME);
  fs.mkdirp(dir);
  const sorted = [...sites].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const file: SitesFile = { version: 1, sites: sorted };
  writeFileAtomic(
    fs,
    dir,
    SITES_FILE_NAME,
    new TextEncoder().encode(JSON.stringify(file, null, 2) + "\n"),
  );
}

/**
 * Reads, changes and writes the registry under its lock (waiting up to 5 s for another
 * writer). `change` returns the new list and a result; throwing leaves the file as it was.
 */
export async function updateSites<T>(
  fs: FileSystem,
  dataDir: string,
  change: (sites: SiteRecord[]) => { sites: SiteRecord[]; result: T },
): Promise<T> {
  const dir = joinPath(dataDir, HUB_DIR_NAME);
  fs.mkdirp(dir);
  const deadline = Date.now() + SITES_LOCK_WAIT_MS;
  // Bounded by the deadline: each pass sleeps 10 ms.
  while (true) {
    let lock;
    try {
      lock = fs.lock(joinPath(dir, SITES_LOCK_NAME));
    } catch (err) {
      if (!(err instanceof LockedError) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    try {
      const { sites, result } = change(loadSites(fs, dataDir));
      saveSites(fs, dataDir, sites);
      return result;
    } finally {
      lock.release();
    }
  }
}

/** Adds site `name` and returns its new token (shown once). */
export async function addSite(fs: FileSystem, dataDir: string, name: string): Promise<string> {
  const problem = siteNameProblem(name);
  if (problem !== undefined) throw new CityHallError(`Cannot add site: ${problem}`);
  const token = generateToken();
  const hash = await tokenSha256(token);
  await updateSites(fs, dataDir, (sites) => {
    if (sites.some((s) => s.name === name)) {
      throw new CityHallError(`Cannot add site: ${name} exists (remove it first)`);
    }
    if (sites.length >= HUB_SITES_MAX) {
      throw new CityHallError(`Cannot add site: the hub has ${HUB_SITES_MAX} sites (the limit)`);
    }
    const record: SiteRecord = { name, tokenSha256: hash, createdMs: Date.now(), edgeId: null };
    return { sites: [...sites, record], result: undefined };
  });
  return token;
}

/** Removes site `name`; false when it is not registered. */
export function removeSite(fs: FileSystem, dataDir: string, name: string): Promise<boolean> {
  return updateSites(fs, dataDir, (sites) => {
    const kept = sites.filter((s) => s.name !== name);
    return { sites: kept, result: kept.length !== sites.length };
  });
}

/**
 * Forgets the edge id recorded for `name`: the next edge to connect with the site's token is
 * accepted, and the site's data at the hub is replaced by what it sends. False when unknown.
 */
export function resetSite(fs: FileSystem, dataDir: string, name: string): Promise<boolean> {
  return updateSites(fs, dataDir, (sites) => {
    const site = sites.find((s) => s.name === name);
    if (site === undefined) return { sites, result: false };
    return {
      sites: sites.map((s) => s.name === name ? { ...s, edgeId: null } : s),
      result: true,
    };
  });
}

/**
 * Records `edgeId` as site `name`'s edge (first contact), durably. Returns the id now
 * recorded: another one when a concurrent contact won, or undefined when the site is gone.
 */
export function recordEdge(
  fs: FileSystem,
  dataDir: string,
  name: string,
  edgeId: string,
): Promise<string | null | undefined> {
  return updateSites(fs, dataDir, (sites) => {
    const site = sites.find((s) => s.name === name);
    if (site === undefined) return { sites, result: undefined };
    if (site.edgeId !== null) return { sites, result: site.edgeId };
    return {
      sites: sites.map((s) => s.name === name ? { ...s, edgeId } : s),
      result: edgeId,
    };
  });
}
