/**
 * CityHall Sync with several replicas and with TLS: three replicas converge to identical
 * content under a concurrent write load; a TLS link with a CA and a token works.
 */

import { TEST_CERT_PEM, TEST_KEY_PEM } from "../_helpers/tls.ts";
import { assertEquals } from "@std/assert";
import {
  digest,
  removeDir,
  startTestLeader,
  startTestReplica,
  type TestReplica,
} from "./_helpers.ts";

Deno.test("Replication: 3 replicas converge to identical content under a concurrent write load", async () => {
  const leader = await startTestLeader();
  const replicas: TestReplica[] = [];
  try {
    for (let i = 0; i < 3; i++) replicas.push(await startTestReplica(leader.port));
    // Four concurrent writers; overwrites and deletes so that order matters.
    await Promise.all([0, 1, 2, 3].map(async (w) => {
      for (let i = 0; i < 1500; i++) {
        const key = `k.${(i * 7 + w) % 400}`;
        if (i % 10 === 9) await leader.db.delete(key);
        else await leader.db.put(key, `w${w}.${i}`);
      }
    }));
    const want = await digest(leader.db);
    for (const r of replicas) {
      await r.replica.waitForAck(leader.db.lastSeq);
      assertEquals(await digest(r.db), want);
      assertEquals(r.db.lastSeq, leader.db.lastSeq);
    }
    assertEquals(leader.leader.connectedReplicas, 3);
  } finally {
    for (const r of replicas) await r.close();
    await leader.close();
    await removeDir(leader.dir);
    for (const r of replicas) await removeDir(r.dir);
  }
});

Deno.test({
  name: "Replication over TLS with a CA certificate and an auth token",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cityhall-repl-tls-" });
    const cert = TEST_CERT_PEM;
    const key = TEST_KEY_PEM;
    const leader = await startTestLeader({ tls: { cert, key }, authToken: "tok" });
    const replica = await startTestReplica(leader.port, { tlsCaCert: cert, authToken: "tok" });
    try {
      for (let i = 0; i < 200; i++) await leader.db.put(`tls.${i}`, `${i}`);
      await replica.replica.waitForAck(leader.db.lastSeq);
      assertEquals(await digest(replica.db), await digest(leader.db));
    } finally {
      await replica.close();
      await leader.close();
      await removeDir(leader.dir);
      await removeDir(replica.dir);
      await removeDir(dir);
    }
  },
});
