import assert from "node:assert/strict";
import { it } from "node:test";
import { integrationOptions, requestJson, startCluster } from "@etcd-connect/testing";

it("a member cut off from its peers cannot serve linearizable reads", integrationOptions(), async () => {
  await using cluster = await startCluster(); // 3 members, fault proxies on
  const leader = await cluster.leader();
  const follower = cluster.members.find((member) => member !== leader);
  assert.ok(follower);

  await cluster.isolate(follower);
  const key = Buffer.from("config").toString("base64");
  await requestJson(`${leader.clientUrl}/v3/kv/put`, { body: { key, value: key } });
  await assert.rejects(requestJson(`${follower.clientUrl}/v3/kv/range`, { body: { key }, timeoutMs: 1000 }));

  cluster.heal();
  await cluster.waitHealthy();
});
