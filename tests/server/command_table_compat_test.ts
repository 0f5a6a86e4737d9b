/**
 * What the command table tells clients, compared byte for byte with a real redis-server 7.0
 * (`_compare.ts`): COMMAND GETKEYS (keys at fixed positions, key ranges with a step, `numkeys`
 * commands, SORT … STORE where the last one wins, container subcommands, every error a proxy
 * can meet) and the commands a transaction refuses.
 */
import { compareScenario } from "./_compare.ts";

Deno.test("COMMAND GETKEYS: the keys of a command line, as Redis finds them", async () => {
  await compareScenario(
    "getkeys",
    `
    Z: command getkeys get key
    Z: command getkeys set k v ex 10
    Z: command getkeys mset k1 v1 k2 v2 k3 v3
    Z: command getkeys del a b c
    Z: command getkeys blpop l1 l2 0
    Z: command getkeys lmove src dst left right
    Z: command getkeys lcs key1 key2
    Z: command getkeys rename a b
    Z: command getkeys bitop and dest s1 s2
    Z: command getkeys memory usage key
    Z: command getkeys object encoding key
    Z: command getkeys zunionstore target 3 k1 k2 k3 weights 1 2 3
    Z: command getkeys zinterstore target 1 k1
    Z: command getkeys zunion 2 a b withscores
    Z: command getkeys zdiff 1 a
    Z: command getkeys zintercard 2 a b limit 5
    Z: command getkeys sintercard 2 a b
    Z: command getkeys lmpop 2 l1 l2 left count 3
    Z: command getkeys zmpop 1 z min
    Z: command getkeys blmpop 0 2 l1 l2 left
    Z: command getkeys bzmpop 0 1 z max
    Z: command getkeys sort abc store def
    Z: command getkeys sort abc store invalid store stillbad store def
    Z: command getkeys sort abc by store get store limit 0 1
    Z: command getkeys sort abc store store x
    Z: command getkeys sort_ro abc
    Z: command getkeys sort_ro abc by w_* get #
    Z: command getkeys zunionstore target 5 k1 k2
    Z: command getkeys zunionstore target 0 k1
    Z: command getkeys zunion x a
    Z: command getkeys zunion -1 a
    Z: command getkeys lmpop 3 a left
    Z: command getkeys nosuchcommand key
    Z: command getkeys ping
    Z: command getkeys get
    Z: command getkeys get a b
    Z: command getkeys
    Z: command getkeys dbsize x
    Z: command getkeys ping hello
    Z: command getkeys publish ch msg
    `,
  );
});

Deno.test("SAVE inside MULTI is refused and the transaction is discarded, as in Redis 7.0", async () => {
  await compareScenario(
    "save-in-multi",
    `
    Z: multi
    Z: set k v
    Z: save
    Z: exec
    Z: get k
    `,
  );
});
