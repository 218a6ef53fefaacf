// Sessions and typed errors against a real node, directly and through the
// proxy in each of its error modes.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { Code } from "@connectrpc/connect";

import { ErrorCode, HearthClient, HearthError, op } from "../src/index.js";
import { ContractProxy, freshProfile, nodeClient, nodeUrl, type ProxyMode } from "./harness.js";

/** Runs fn and returns the HearthError it rejected with. */
async function failure(fn: () => Promise<unknown>): Promise<HearthError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof HearthError, `expected a HearthError, got ${String(e)}`);
    return e;
  }
  assert.fail("the call succeeded");
}

test("acquire, update, get, release: a round trip on the real node", async () => {
  const client = nodeClient();
  const profile = freshProfile("roundtrip");
  const s = await client.acquireSession(profile, "server-a:match-1");
  assert.ok(s.token.length > 0);
  assert.equal(s.reused, false);
  assert.deepEqual(s.data(), {});

  const u = await s.update([op.increment("/coins", 5), op.set("/name", "Ada")]);
  assert.equal(u.version, s.version);
  assert.equal(u.durable, false);
  const again = await client.acquireSession(profile, "server-a:match-1");
  assert.equal(again.reused, true, "acquiring with the same session id resumes the session");
  assert.equal(again.token, s.token);

  assert.equal((await s.get("/coins")).value, "5");
  const rel = await s.release();
  assert.equal(rel.version, u.version);

  const doc = await client.get({ profile });
  assert.deepEqual(JSON.parse(doc.value), { coins: 5, name: "Ada" });
  assert.equal(doc.version, u.version);

  // The released token no longer writes.
  const stale = await failure(() => s.update([op.increment("/coins", 1)]));
  assert.equal(stale.code, ErrorCode.STALE_SESSION);
});

test("a durable update is acknowledged after its save committed", async () => {
  const client = nodeClient();
  const profile = freshProfile("durable");
  const s = await client.acquireSession(profile, "server-a:durable");
  const u = await s.update([op.append("/inventory", { item: "sword" })], { durability: "durable" });
  assert.equal(u.durable, true);
  const st = await client.status({ profile });
  assert.ok(st.savedVersion >= u.version, `saved version ${st.savedVersion} < acknowledged ${u.version}`);
  await s.heartbeat();
  assert.ok(s.ttlMs > 0);
  await s.release();
});

test("an acquire in WAIT mode may wait past the call's own timeout", async () => {
  const client = nodeClient({ timeoutMs: 100 });
  const profile = freshProfile("wait");
  const holder = await client.acquireSession(profile, "server-a:leaving");
  const released = new Promise((resolve) => setTimeout(resolve, 300)).then(() => holder.release());
  const s = await client.acquireSession(profile, "server-b:waiting", { mode: "wait", waitMs: 10_000 });
  assert.equal(s.previousSession, "", "taken after a release, not stolen");
  await released;
  await s.release();
});

test("gRPC over HTTP/2 reaches the same node", async () => {
  const client = nodeClient({ protocol: "grpc" });
  const profile = freshProfile("grpc");
  await client.update({ profile, operations: [op.set("/level", 3)] });
  assert.equal((await client.get({ profile, path: "/level" })).value, "3");
  const missing = await failure(() => client.get({ profile: freshProfile("grpc-missing") }));
  assert.equal(missing.code, ErrorCode.NOT_FOUND);
});

test("a wrong bearer token is UNAUTHENTICATED and not retried", async () => {
  const client = new HearthClient({ baseUrl: nodeUrl, token: "wrong" });
  const err = await failure(() => client.get({ profile: freshProfile("auth") }));
  assert.equal(err.code, ErrorCode.UNAUTHENTICATED);
  assert.equal(err.connectCode, Code.Unauthenticated);
});

// The same typed errors whichever way they travel: straight from the node
// (before or after its error contract), and through the proxy as
// contract errors (with the detail) or as legacy responses (error field set).
for (const via of ["node", "contract", "legacy"] as const) {
  describe(`typed errors via ${via}`, () => {
    let proxy: ContractProxy | undefined;
    let client: HearthClient;
    before(async () => {
      if (via === "node") {
        client = nodeClient();
      } else {
        proxy = await ContractProxy.start(via as ProxyMode);
        client = proxy.client();
      }
    });
    after(() => proxy?.close());

    test("SESSION_CONFLICT names the holder and is not retried", async () => {
      const profile = freshProfile("conflict");
      const holder = await client.acquireSession(profile, "server-a:holder");
      const err = await failure(() => client.acquireSession(profile, "server-b:intruder"));
      assert.equal(err.code, ErrorCode.SESSION_CONFLICT);
      assert.equal(err.codeName, "SESSION_CONFLICT");
      assert.equal(err.holderSession, "server-a:holder");
      assert.equal(err.retryable, false);
      if (proxy) {
        assert.equal(proxy.requests("Acquire").length, 2, "one attempt per acquire");
      }
      if (via === "contract") {
        assert.equal(err.connectCode, Code.Aborted);
      }
      // Steal takes it; the old token stops working.
      const thief = await client.acquireSession(profile, "server-b:intruder", { mode: "steal" });
      assert.equal(thief.previousSession, "server-a:holder");
      const stale = await failure(() => holder.update([op.increment("/coins", 1)]));
      assert.equal(stale.code, ErrorCode.STALE_SESSION);
      await thief.release();
    });

    test("NOT_FOUND for a profile never written", async () => {
      const err = await failure(() => client.get({ profile: freshProfile("never") }));
      assert.equal(err.code, ErrorCode.NOT_FOUND);
      assert.equal(err.retryable, false);
    });

    test("TYPE_MISMATCH names the failing operation and path", async () => {
      const profile = freshProfile("mismatch");
      await client.update({ profile, operations: [op.set("/name", "Ada")] });
      const err = await failure(() => client.update({ profile, operations: [op.increment("/coins", 1), op.increment("/name", 1)] }));
      assert.equal(err.code, ErrorCode.TYPE_MISMATCH);
      assert.equal(err.operationIndex, 1);
      assert.equal(err.path, "/name");
      assert.ok(err.idempotencyKey, "the error carries the key the update was sent with");
      // All or nothing: the first operation did not apply either.
      assert.deepEqual(JSON.parse((await client.get({ profile })).value), { name: "Ada" });
    });
  });
}

test("without the detail, the Connect code stands for the hearth code", async () => {
  const proxy = await ContractProxy.start("no-detail");
  try {
    const err = await failure(() => proxy.client().get({ profile: freshProfile("nodetail") }));
    assert.equal(err.code, ErrorCode.NOT_FOUND);
    assert.equal(err.connectCode, Code.NotFound);
  } finally {
    await proxy.close();
  }
});
