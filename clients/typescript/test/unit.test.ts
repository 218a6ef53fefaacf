// The wrapper's pure parts: operation builders, backoff, error decoding.
import assert from "node:assert/strict";
import { test } from "node:test";

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

import { backoffMs, ErrorCode, ErrorSchema, fromConnectError, HearthError, op, OperationKind, pointer } from "../src/index.js";

test("pointer escapes segments as RFC 6901 says", () => {
  assert.equal(pointer(), "");
  assert.equal(pointer("inventory", 0), "/inventory/0");
  assert.equal(pointer("a/b", "m~n"), "/a~1b/m~0n");
});

test("operations carry JSON text; increments refuse inexact numbers", () => {
  assert.deepEqual(op.set("/name", "Ada"), { kind: OperationKind.SET, path: "/name", value: '"Ada"' });
  assert.equal(op.increment("/coins", 5).value, "5");
  assert.equal(op.increment("/coins", 9007199254740993n).value, "9007199254740993");
  assert.equal(op.increment("/ratio", 0.5).value, "0.5");
  assert.throws(() => op.increment("/coins", 2 ** 60), RangeError);
  assert.throws(() => op.increment("/coins", Number.NaN), RangeError);
  assert.throws(() => op.set("/f", undefined), TypeError);
  assert.equal(op.delete("/x").value, undefined);
});

test("backoff is jittered below a doubling cap, never below retryAfterMs", () => {
  const o = { maxAttempts: 5, initialBackoffMs: 100, maxBackoffMs: 1000 };
  assert.equal(backoffMs(o, 1, 0, () => 0.999), 99);
  assert.equal(backoffMs(o, 3, 0, () => 0.999), 399);
  assert.equal(backoffMs(o, 10, 0, () => 0.999), 999, "capped");
  assert.equal(backoffMs(o, 1, 0, () => 0), 0);
  assert.equal(backoffMs(o, 1, 750, () => 0.5), 750, "the node's hint wins");
});

test("the hearth.v1.Error detail gives the exact code and fields", () => {
  const detail = create(ErrorSchema, { code: ErrorCode.SESSION_CONFLICT, message: "held", holderSession: "s-1", retryAfterMs: 1500n, operationIndex: -1 });
  const err = fromConnectError(new ConnectError("held", Code.Aborted, undefined, [{ desc: ErrorSchema, value: detail }]));
  assert.ok(err instanceof HearthError);
  assert.equal(err.code, ErrorCode.SESSION_CONFLICT);
  assert.equal(err.holderSession, "s-1");
  assert.equal(err.retryAfterMs, 1500);
  assert.equal(err.connectCode, Code.Aborted);
  assert.equal(err.retryable, false);
  assert.equal(err.message, "SESSION_CONFLICT: held");
});

test("without a detail the Connect code is mapped as the Go client maps it", () => {
  const cases: [Code, ErrorCode][] = [
    [Code.NotFound, ErrorCode.NOT_FOUND],
    [Code.InvalidArgument, ErrorCode.INVALID_ARGUMENT],
    [Code.FailedPrecondition, ErrorCode.INVALID_ARGUMENT],
    [Code.ResourceExhausted, ErrorCode.TOO_LARGE],
    [Code.OutOfRange, ErrorCode.OUT_OF_RANGE],
    [Code.Unauthenticated, ErrorCode.UNAUTHENTICATED],
    [Code.PermissionDenied, ErrorCode.PERMISSION_DENIED],
    [Code.Unavailable, ErrorCode.UNAVAILABLE],
    [Code.DeadlineExceeded, ErrorCode.UNAVAILABLE],
    [Code.Aborted, ErrorCode.UNAVAILABLE],
  ];
  for (const [c, want] of cases) {
    const err = fromConnectError(new ConnectError("x", c));
    assert.equal(err.code, want, Code[c]);
    assert.equal(err.operationIndex, -1);
  }
  assert.equal(fromConnectError(new TypeError("boom")).code, ErrorCode.UNAVAILABLE);
});
