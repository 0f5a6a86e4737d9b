/**
 * The table entries of CLIENT, RESET and MONITOR. Their handlers (`client.ts`) load with the
 * first of them (`_lazy_handler.ts`): an idle server keeps them out of memory
 * (ARCHITECTURE.md § "Memory").
 *
 * @module
 */

import { type CommandSpec, NO_KEYS, specBuilder } from "../context.ts";
import { handlerOnFirstUse } from "./_lazy_handler.ts";

/** Arity of each CLIENT subcommand, Redis style (the container's name counted). */
export const CLIENT_SUBCOMMANDS: Record<string, number> = {
  id: 2,
  getname: 2,
  setname: 3,
  setinfo: 4,
  info: 2,
  list: -2,
  kill: -3,
  pause: -3,
  unpause: 2,
  unblock: -3,
  reply: 3,
  "no-evict": 3,
  "no-touch": 3,
  tracking: -3,
  caching: 3,
  getredir: 2,
  trackinginfo: 2,
  help: 2,
};

const spec = specBuilder("connection", NO_KEYS);
/** The handler of a command whose module is not loaded yet (replaced by handlerOnFirstUse). */
const notLoaded = () => {};
const handlers = () => import("./client.ts");

/** CLIENT, RESET and MONITOR. */
export const CLIENT_COMMANDS: CommandSpec[] = [
  handlerOnFirstUse(
    {
      ...spec(
        "client",
        -2,
        ["noscript", "loading", "stale"],
        "2.4.0",
        "A container for client connection commands.",
        notLoaded,
      ),
      subcommands: CLIENT_SUBCOMMANDS,
    },
    async () => (await handlers()).clientCommand,
  ),
  handlerOnFirstUse(
    spec(
      "reset",
      1,
      ["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
      "6.2.0",
      "Resets the connection.",
      notLoaded,
    ),
    async () => (await handlers()).reset,
  ),
  handlerOnFirstUse(
    {
      ...spec(
        "monitor",
        1,
        ["admin", "noscript", "loading", "stale"],
        "1.0.0",
        "Listens for all requests received by the server in real-time.",
        notLoaded,
      ),
      group: "server",
    },
    async () => (await handlers()).monitor,
  ),
];
