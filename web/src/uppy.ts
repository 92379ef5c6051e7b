/**
 * For apps already on Uppy: the options that make `@uppy/aws-s3` 5.x upload
 * through this API (its custom functions, no Companion), and a postprocessor
 * that completes single uploads, so a file counts as done only once the
 * server has verified it.
 *
 *     uppy.use(AwsS3, mediaMeshS3Options(uploader, { mediaType: () => "post-image" }));
 *     uppy.addPostProcessor(completeSingleUploads(uploader, uppy));
 *
 * Each file's media id is set as its `mediaId` meta field. (Uppy 6 presigns
 * S3's own multipart requests and parses their XML in the browser, which
 * would hand completion and verification to the client: not supported.)
 */

import type { Body, Meta, Uppy, UppyFile } from "@uppy/core";
import { fromCallError } from "./errors.js";
import { serverPartSize } from "./plan.js";
import { MediaUploader, SINGLE_PUT_LIMIT, sha256Base64 } from "./uploader.js";

export interface MediaMeshUppyOptions {
  /** The media type of each file ("post-image", ...). */
  mediaType: (file: UppyFile<Meta, Body>) => string;
}

type AnyFile = UppyFile<Meta, Body>;

export function mediaMeshS3Options(uploader: MediaUploader, options: MediaMeshUppyOptions) {
  const media = uploader.media;
  const partUrls = new Map<string, Map<number, string>>(); // by media id
  const call = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw fromCallError(error); // Uppy shows the server's message
    }
  };
  const session = async (file: AnyFile, checksumSha256: string) => {
    const reply = await media.createUploadSession({
      fileName: file.name ?? "file",
      fileType: file.type ?? "",
      fileSize: BigInt(file.size ?? 0),
      mediaType: options.mediaType(file),
      checksumSha256,
    });
    file.meta.mediaId = reply.mediaId;
    return reply;
  };
  return {
    shouldUseMultipart: (file: AnyFile) => (file.size ?? 0) > SINGLE_PUT_LIMIT,
    getChunkSize: (file: { size: number }) => serverPartSize(file.size),
    getUploadParameters: (file: AnyFile) =>
      call(async () => {
        const reply = await session(file, await sha256Base64(file.data as Blob));
        return { method: "PUT" as const, url: reply.uploadUrl, headers: reply.uploadHeaders };
      }),
    createMultipartUpload: (file: AnyFile) =>
      call(async () => {
        const reply = await session(file, "");
        if (Number(reply.partSize) !== serverPartSize(file.size ?? 0)) {
          throw new Error(`the server's part size ${reply.partSize} is not the one planned`);
        }
        partUrls.set(reply.mediaId, new Map(reply.parts.map((p) => [p.partNumber, p.uploadUrl])));
        return { uploadId: reply.uploadId, key: reply.mediaId };
      }),
    signPart: (_file: AnyFile, { key, partNumber }: { key: string; partNumber: number }) =>
      call(async () => {
        const urls = partUrls.get(key) ?? new Map<number, string>();
        partUrls.set(key, urls);
        let url = urls.get(partNumber);
        if (!url) {
          const listing = await media.listUploadParts({ mediaId: key, partNumberMarker: partNumber - 1 });
          listing.missingParts.forEach((p) => urls.set(p.partNumber, p.uploadUrl));
          url = urls.get(partNumber) ?? "";
        }
        urls.delete(partNumber); // a retry signs afresh (the old URL may have expired)
        return { method: "PUT" as const, url };
      }),
    listParts: (_file: AnyFile, { key }: { key: string }) =>
      call(async () => {
        const listing = await media.listUploadParts({ mediaId: key });
        return listing.storedParts.map((p) => ({ PartNumber: p.partNumber, Size: Number(p.size), ETag: p.etag }));
      }),
    completeMultipartUpload: (
      _file: AnyFile,
      { key, uploadId, parts }: { key: string; uploadId: string; parts: { PartNumber?: number; ETag?: string }[] },
    ) =>
      call(async () => {
        partUrls.delete(key);
        const done = await media.completeMultipartUpload({
          mediaId: key,
          uploadId,
          parts: parts.map((p) => ({ partNumber: p.PartNumber ?? 0, etag: p.ETag ?? "" })),
        });
        return { location: done.cdnUrl };
      }),
    abortMultipartUpload: (_file: AnyFile, { key }: { key: string }) =>
      call(async () => {
        partUrls.delete(key);
        await media.abortUpload({ mediaId: key });
      }),
  };
}

/** Uppy postprocessor: CompleteUpload for each single-PUT file, so that the
 * server verifies it; a refusal is that file's upload error. */
export function completeSingleUploads(uploader: MediaUploader, uppy: Uppy<Meta, Body>) {
  return async (fileIds: string[]): Promise<void> => {
    for (const id of fileIds) {
      const file = uppy.getFile(id);
      if (!file || (file.size ?? 0) > SINGLE_PUT_LIMIT || !file.meta.mediaId) continue;
      try {
        const done = await uploader.media.completeUpload({ mediaId: String(file.meta.mediaId) });
        uppy.setFileMeta(id, { mediaStatus: done.status });
      } catch (error) {
        const refused = fromCallError(error);
        uppy.setFileState(id, { error: refused.message });
        uppy.emit("upload-error", uppy.getFile(id), refused);
      }
    }
  };
}
