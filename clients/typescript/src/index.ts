// Hearth's TypeScript client: the generated hearth.v1 messages and
// ProfileService, and HearthClient, a small wrapper with Hearth's rules
// built in. See docs/CLIENTS.md.
export * from "./gen/hearth/v1/profile_pb.js";
export { bearer, HearthClient, type CallOptions, type HearthClientOptions, type ProfileRefInit } from "./client.js";
export { codeName, codeOfConnect, fromConnectError, HearthError, isRetryable, isRetryableCode, type HearthErrorFields } from "./errors.js";
export { item, type BatchItemInit, type BatchKind, type BatchOutcome } from "./batch.js";
export { EventPoller, type EventPollerOptions, type ProfileUpdate } from "./events.js";
export { op, pointer, type OperationInit } from "./operations.js";
export { backoffMs, defaultRetryOptions, type RetryOptions } from "./retry.js";
export { Session, type PurchaseInit, type UpdateOptions } from "./session.js";
