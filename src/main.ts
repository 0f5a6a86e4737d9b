/**
 * The `cityhall` program: one executable for the server, the client and the tools.
 *
 * @module
 */

import { main } from "./cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
