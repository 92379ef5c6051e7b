// A refusal as the uploader rejects with it: the server's reason and metadata to branch on.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { fromCallError, StorageRefusal } from "../src/errors.js";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";

/** A refusal as grpc-web delivers it: the ErrorInfo encoded in the status details. */
function refusal(code: Code, message: string, reason: string, metadata: Record<string, string>) {
  const info = create(ErrorInfoSchema, { reason, domain: "media-mesh", metadata });
  const error = new ConnectError(message, code);
  error.details.push({ type: ErrorInfoSchema.typeName, value: toBinary(ErrorInfoSchema, info) });
  return error;
}

describe("fromCallError", () => {
  it("keeps the server's reason, its metadata, the status and the message", () => {
    const error = fromCallError(
      refusal(Code.InvalidArgument, "fileSize 30 exceeds the avatar limit of 20 bytes", "FILE_TOO_LARGE", {
        mediaType: "avatar",
        limit: "20",
      }),
    );

    assert.equal(error.reason, "FILE_TOO_LARGE");
    assert.deepEqual({ ...error.metadata }, { mediaType: "avatar", limit: "20" });
    assert.equal(error.status, "INVALID_ARGUMENT");
    assert.equal(error.message, "fileSize 30 exceeds the avatar limit of 20 bytes");
    assert.equal(error.info?.domain, "media-mesh");
  });

  it("falls back to the status name, with no metadata, for a refusal without ErrorInfo", () => {
    const error = fromCallError(new ConnectError("request headers too large", Code.ResourceExhausted));

    assert.equal(error.reason, "RESOURCE_EXHAUSTED");
    assert.deepEqual({ ...error.metadata }, {});
  });

  it("has no metadata for storage's refusals", () => {
    const error = new StorageRefusal(403, "SignatureDoesNotMatch").asUploadError();

    assert.equal(error.reason, "STORAGE");
    assert.deepEqual({ ...error.metadata }, {});
  });
});
