// Retries: UNAVAILABLE and FENCED are retried with the same idempotency
// key and take effect once; nothing else is retried; retryAfterMs and the
// attempt cap are honoured. Failures come from ContractProxy, which forwards
// the first attempt to the real node and then loses its answer.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { ErrorCode, HearthError, op, type HearthClient } from "../src/index.js";
import { ContractProxy, freshProfile, nodeClient } from "./harness.js";

/** A client of proxy whose backoff waits are recorded and skipped. */
function recordingClient(proxy: ContractProxy, maxAttempts = 5): { client: HearthClient; waits: number[] } {
  const waits: number[] = [];
  const client = proxy.client({
    retry: { maxAttempts, initialBackoffMs: 10, maxBackoffMs: 40 },
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
  return { client, waits };
}

for (const mode of ["contract", "legacy"] as const) {
  describe(`retries (${mode} errors)`, () => {
    let proxy: ContractProxy;
    before(async () => {
      proxy = await ContractProxy.start(mode);
    });
    after(() => proxy.close());

    test("an update whose answer was lost is retried with the same key and applied once", async () => {
      const { client, waits } = recordingClient(proxy);
      const profile = freshProfile("retry-update");
      proxy.failNext("Update", { code: ErrorCode.UNAVAILABLE, retryAfterMs: 250 });
      const res = await client.update({ profile, operations: [op.increment("/coins", 7)] });

      const sent = proxy.requests("Update").filter((s) => (s.message as { profile?: { id?: string } }).profile?.id === profile.id);
      assert.equal(sent.length, 2, "one failed attempt, one retry");
      const keys = sent.map((s) => s.message.idempotencyKey as string);
      assert.ok(keys[0], "the client made an idempotency key");
      assert.equal(keys[1], keys[0], "the retry carries the same key");
      assert.equal(res.duplicate, true, "the retry answers the first attempt's result");
      assert.deepEqual(waits.length, 1);
      assert.ok(waits[0]! >= 250, `backoff ${waits[0]} ms ignores retryAfterMs 250`);
      assert.equal((await nodeClient().get({ profile, path: "/coins" })).value, "7", "applied once");
    });

    test("FENCED is retried too", async () => {
      const { client } = recordingClient(proxy);
      const profile = freshProfile("retry-fenced");
      proxy.failNext("Update", { code: ErrorCode.FENCED, forward: false });
      await client.update({ profile, operations: [op.increment("/coins", 1)], idempotencyKey: "my-key-1" });
      const keys = proxy.requests("Update").slice(-2).map((s) => s.message.idempotencyKey);
      assert.deepEqual(keys, ["my-key-1", "my-key-1"], "a caller's own key is kept");
      assert.equal((await nodeClient().get({ profile, path: "/coins" })).value, "1");
    });

    test("a purchase is granted once across retries and repeats", async () => {
      const { client } = recordingClient(proxy);
      const profile = freshProfile("retry-purchase");
      const s = await client.acquireSession(profile, "server-a:shop");
      proxy.failNext("Purchase", { code: ErrorCode.UNAVAILABLE });
      const grant = { receiptId: "receipt-42", productId: "gems-100", grant: [op.increment("/gems", 100)] };
      const first = await s.purchase(grant);
      assert.equal(first.duplicate, true, "the retry found the grant its lost first attempt made");
      const repeat = await s.purchase(grant);
      assert.equal(repeat.duplicate, true);
      assert.equal(repeat.purchase?.version, first.purchase?.version);
      assert.equal((await client.get({ profile, path: "/gems" })).value, "100");
      const history = await client.listPurchases({ profile });
      assert.deepEqual(
        history.purchases.map((p) => p.receiptId),
        ["receipt-42"],
      );
      await s.release();
    });

    test("errors that are not retryable are not retried", async () => {
      const { client, waits } = recordingClient(proxy);
      const before = proxy.requests("Update").length;
      proxy.failNext("Update", { code: ErrorCode.VERSION_CONFLICT, forward: false });
      await assert.rejects(
        client.update({ profile: freshProfile("no-retry"), operations: [op.set("/a", 1)] }),
        (e) => e instanceof HearthError && e.code === ErrorCode.VERSION_CONFLICT,
      );
      assert.equal(proxy.requests("Update").length - before, 1);
      assert.equal(waits.length, 0);
    });

    test("retries stop at maxAttempts; the error keeps the key to retry with", async () => {
      const { client, waits } = recordingClient(proxy, 3);
      const before = proxy.requests("Update").length;
      proxy.failNext("Update", { code: ErrorCode.UNAVAILABLE, count: 10, forward: false });
      const err = await client.update({ profile: freshProfile("give-up"), operations: [op.set("/a", 1)] }).then(
        () => assert.fail("succeeded"),
        (e: unknown) => e as HearthError,
      );
      assert.equal(err.code, ErrorCode.UNAVAILABLE);
      assert.equal(proxy.requests("Update").length - before, 3);
      assert.equal(waits.length, 2);
      assert.ok(waits.every((w) => w >= 0 && w < 40), `backoffs ${waits} exceed the cap`);
      assert.ok(err.idempotencyKey);
      proxy.failNext("Update", { count: 0 });
    });

    test("Restore is not retried", async () => {
      const { client } = recordingClient(proxy);
      const before = proxy.requests("Restore").length;
      proxy.failNext("Restore", { code: ErrorCode.UNAVAILABLE, forward: false });
      await assert.rejects(client.restore({ profile: freshProfile("restore"), seq: 1n }), (e) => e instanceof HearthError && e.code === ErrorCode.UNAVAILABLE);
      assert.equal(proxy.requests("Restore").length - before, 1);
    });
  });
}

test("a call's deadline covers its retries", async () => {
  const proxy = await ContractProxy.start("contract");
  try {
    // The node asks for 400 ms, the deadline is 200 ms: the client gives
    // up at once instead of waiting past its deadline.
    const { client, waits } = recordingClient(proxy, 10);
    proxy.failNext("Get", { code: ErrorCode.UNAVAILABLE, retryAfterMs: 400, forward: false });
    await assert.rejects(client.get({ profile: freshProfile("deadline") }, { timeoutMs: 200 }), (e) => e instanceof HearthError && e.code === ErrorCode.UNAVAILABLE);
    assert.equal(proxy.requests("Get").length, 1);
    assert.deepEqual(waits, []);
  } finally {
    await proxy.close();
  }
});
