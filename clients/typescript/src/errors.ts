// Typed errors: every failure the node reports becomes a HearthError with
// the exact hearth code, whichever way it travelled.
import { Code, ConnectError } from "@connectrpc/connect";

import { ErrorCode, ErrorSchema, type Error as ErrorPb } from "./gen/hearth/v1/profile_pb.js";

/** What a HearthError carries besides its code and message. */
export interface HearthErrorFields {
  /** The path the failure is about, or "". */
  path?: string;
  /** The index of the failing operation in an Update, or -1. */
  operationIndex?: number;
  /** For SESSION_CONFLICT: the session holding the profile. */
  holderSession?: string;
  /** For UNAVAILABLE and SESSION_CONFLICT: when a retry may succeed (0: no hint). */
  retryAfterMs?: number;
  /** The gRPC/Connect code the error arrived with, when it came as a transport error. */
  connectCode?: Code;
  /** The idempotency key the failed call sent, if any: retry with it to learn the outcome. */
  idempotencyKey?: string;
  cause?: unknown;
}

/**
 * HearthError is a failure reported by a Hearth node (or a transport failure
 * standing for one). Test `code` against ErrorCode, never the message.
 */
export class HearthError extends Error {
  override readonly name = "HearthError";
  readonly code: ErrorCode;
  /** The node's message, without the code prefix that `message` has. */
  readonly rawMessage: string;
  readonly path: string;
  readonly operationIndex: number;
  readonly holderSession: string;
  readonly retryAfterMs: number;
  readonly connectCode: Code | undefined;
  idempotencyKey: string | undefined;

  constructor(code: ErrorCode, message: string, fields: HearthErrorFields = {}) {
    super(`${codeName(code)}: ${message}`, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.code = code;
    this.rawMessage = message;
    this.path = fields.path ?? "";
    this.operationIndex = fields.operationIndex ?? -1;
    this.holderSession = fields.holderSession ?? "";
    this.retryAfterMs = fields.retryAfterMs ?? 0;
    this.connectCode = fields.connectCode;
    this.idempotencyKey = fields.idempotencyKey;
  }

  /** The code's name without the ERROR_CODE_ prefix, e.g. "SESSION_CONFLICT". */
  get codeName(): string {
    return codeName(this.code);
  }

  /** Whether repeating the same request (with the same idempotency key) may succeed. */
  get retryable(): boolean {
    return isRetryableCode(this.code);
  }

  /** The error a hearth.v1.Error describes. */
  static fromProto(e: ErrorPb, fields: Pick<HearthErrorFields, "connectCode" | "cause"> = {}): HearthError {
    return new HearthError(e.code, e.message, {
      path: e.path,
      operationIndex: e.operationIndex,
      holderSession: e.holderSession,
      retryAfterMs: Number(e.retryAfterMs),
      ...fields,
    });
  }
}

/** The codes a client retries on its own: the request may succeed unchanged. */
export function isRetryableCode(code: ErrorCode): boolean {
  return code === ErrorCode.UNAVAILABLE || code === ErrorCode.FENCED;
}

/** Whether err is a HearthError that a retry of the same request may cure. */
export function isRetryable(err: unknown): boolean {
  return err instanceof HearthError && err.retryable;
}

/** "SESSION_CONFLICT" for ErrorCode.SESSION_CONFLICT; "CODE_42" for a code this client does not know. */
export function codeName(code: ErrorCode): string {
  return ErrorCode[code] ?? `CODE_${code}`;
}

/**
 * The hearth code a Connect code stands for when an error arrives without a
 * hearth.v1.Error detail (one made by the transport or a proxy, never by a
 * node's service, which always attaches the detail). The same table as the
 * Go client's (messages.FromConnectError), so every client retries alike.
 */
export function codeOfConnect(code: Code): ErrorCode {
  switch (code) {
    case Code.InvalidArgument:
    case Code.Unimplemented:
    case Code.FailedPrecondition:
      return ErrorCode.INVALID_ARGUMENT;
    case Code.NotFound:
      return ErrorCode.NOT_FOUND;
    case Code.ResourceExhausted:
      return ErrorCode.TOO_LARGE;
    case Code.OutOfRange:
      return ErrorCode.OUT_OF_RANGE;
    case Code.Unauthenticated:
      return ErrorCode.UNAUTHENTICATED;
    case Code.PermissionDenied:
      return ErrorCode.PERMISSION_DENIED;
    default: // Unavailable, DeadlineExceeded, Unknown, Internal, Aborted, ...: a retry may cure it
      return ErrorCode.UNAVAILABLE;
  }
}

/**
 * The HearthError a failed call stands for: the hearth.v1.Error detail when
 * the node attached one (the exact code), else the code the Connect code
 * stands for. Errors that are not Connect errors (a bug in a caller's
 * interceptor, say) are UNAVAILABLE with the original as cause.
 */
export function fromConnectError(err: unknown): HearthError {
  if (err instanceof HearthError) {
    return err;
  }
  if (!(err instanceof ConnectError)) {
    return new HearthError(ErrorCode.UNAVAILABLE, String(err instanceof Error ? err.message : err), { cause: err });
  }
  for (const detail of err.findDetails(ErrorSchema)) {
    if (detail.code !== ErrorCode.UNSPECIFIED) {
      return HearthError.fromProto(detail, { connectCode: err.code, cause: err });
    }
  }
  return new HearthError(codeOfConnect(err.code), err.rawMessage, { connectCode: err.code, cause: err });
}
