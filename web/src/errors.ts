/**
 * The one error an upload rejects with.
 *
 *     UploadError
 *       reason    what went wrong, to branch on: the server's ErrorInfo reason
 *                 (FILE_TOO_LARGE, TOO_MANY_PENDING, TYPE_MISMATCH, ...: the
 *                 README lists them) for its refusals, the status name for the
 *                 gateway's own (they carry no ErrorInfo), or STORAGE (a PUT
 *                 storage refused), ABORTED (the caller's signal), NETWORK (no
 *                 answer from the gateway)
 *       metadata  what the reason concerns, e.g. {mediaId, limit}; {} if none
 *       status    the gRPC status name (e.g. "INVALID_ARGUMENT"), "" for storage
 *       message   what the server (or storage) said
 *       info      the server's google.rpc.ErrorInfo, when it sent one
 *       httpStatus  storage's HTTP status, for STORAGE
 */

import { Code, ConnectError } from "@connectrpc/connect";
import { type ErrorInfo, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";

export class UploadError extends Error {
  override readonly name = "UploadError";

  constructor(
    message: string,
    readonly reason: string,
    readonly status: string,
    readonly info?: ErrorInfo,
    readonly httpStatus?: number,
  ) {
    super(message);
  }

  /** The ErrorInfo's metadata: what `reason` concerns (`mediaId`, `field`, `limit`, …). */
  get metadata(): Readonly<Record<string, string>> {
    return this.info?.metadata ?? {};
  }
}

/** gRPC's name for a Connect code: Code.InvalidArgument → "INVALID_ARGUMENT". */
export function statusName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** A failed call to the gateway as an UploadError, keeping the server's words. */
export function fromCallError(error: unknown): UploadError {
  if (error instanceof UploadError) {
    return error;
  }
  const connect = ConnectError.from(error);
  if (connect.code === Code.Canceled) {
    return aborted();
  }
  const [info] = connect.findDetails(ErrorInfoSchema);
  const status = statusName(connect.code);
  const reason = info?.reason || (connect.code === Code.Unknown ? "NETWORK" : status);
  return new UploadError(connect.rawMessage, reason, status, info);
}

export function aborted(): UploadError {
  return new UploadError("the upload was aborted", "ABORTED", "CANCELLED");
}

/** Storage refused a PUT (or never answered: `httpStatus` 0). */
export class StorageRefusal extends Error {
  override readonly name = "StorageRefusal";

  constructor(readonly httpStatus: number, message: string) {
    super(message);
  }

  asUploadError(): UploadError {
    return new UploadError(this.message, "STORAGE", "", undefined, this.httpStatus);
  }
}
