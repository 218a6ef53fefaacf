// Batch: many operations in one request, one typed outcome per item, update
// keys that survive a retry of the whole batch.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ErrorCode, item, op, type BatchItem } from "../src/index.js";
import { ContractProxy, freshProfile, nodeClient } from "./harness.js";

test("a batch answers each item in order, failing items on their own", async () => {
  const client = nodeClient();
  const a = freshProfile("batch-a");
  const b = freshProfile("batch-b");
  const never = freshProfile("batch-never");
  const out = await client.batch([
    item.acquire({ profile: a, sessionId: "server-a:batch" }),
    item.update({ profile: b, operations: [op.increment("/coins", 3)] }),
    item.get({ profile: never }),
    item.update({ profile: b, operations: [op.increment("/coins", 1), op.append("/coins", 1)] }),
    item.heartbeat({ profile: a, sessionToken: "not-a-token" }),
    item.get({ profile: b, path: "/coins" }),
  ]);
  assert.deepEqual(
    out.map((o) => [o.kind, o.ok]),
    [
      ["acquire", true],
      ["update", true],
      ["get", false],
      ["update", false],
      ["heartbeat", false],
      ["get", true],
    ],
  );
  const [acq, upd, missing, mismatch, stale, read] = out;
  assert.ok(acq?.kind === "acquire" && acq.ok && acq.response.sessionToken.length > 0);
  assert.ok(upd?.kind === "update" && upd.ok && upd.response.version === 1n);
  assert.equal(missing?.error?.code, ErrorCode.NOT_FOUND);
  assert.equal(mismatch?.error?.code, ErrorCode.TYPE_MISMATCH);
  assert.equal(mismatch?.error?.operationIndex, 1);
  assert.ok(mismatch?.error?.idempotencyKey, "the failed update's outcome names its key");
  assert.equal(stale?.error?.code, ErrorCode.STALE_SESSION);
  // Items on one profile run in the order given: the failed update left nothing.
  assert.ok(read?.kind === "get" && read.ok && read.response.value === "3");

  if (acq?.kind === "acquire" && acq.ok) {
    await client.release({ profile: a, sessionToken: acq.response.sessionToken });
  }
});

test("a batch retried as a whole applies each update once", async () => {
  const proxy = await ContractProxy.start("contract");
  try {
    const client = proxy.client({ sleep: async () => {} });
    const p = freshProfile("batch-retry");
    const q = freshProfile("batch-retry");
    const items = [
      item.update({ profile: p, operations: [op.increment("/coins", 10)] }),
      item.update({ profile: q, operations: [op.increment("/coins", 20)], idempotencyKey: "q-key" }),
    ];
    proxy.failNext("Batch", { code: ErrorCode.UNAVAILABLE });
    const out = await client.batch(items);

    const sent = proxy.requests("Batch").map((s) => (s.message.items as BatchItem[]).map((it) => (it.request.case === "update" ? it.request.value.idempotencyKey : "")));
    assert.equal(sent.length, 2);
    assert.ok(sent[0]![0], "the update without a key got one");
    assert.equal(sent[0]![1], "q-key");
    assert.deepEqual(sent[1], sent[0], "the retry carries the same keys");
    assert.equal(items[0]!.request?.case === "update" && items[0]!.request.value.idempotencyKey, undefined, "the caller's item is left as given");
    assert.ok(out.every((o) => o.kind === "update" && o.ok && o.response.duplicate));
    const check = nodeClient();
    assert.equal((await check.get({ profile: p, path: "/coins" })).value, "10");
    assert.equal((await check.get({ profile: q, path: "/coins" })).value, "20");
  } finally {
    await proxy.close();
  }
});
