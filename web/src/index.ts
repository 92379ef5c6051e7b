/**
 * The media mesh's browser client: upload files straight to storage through
 * the gateway's grpc-web API, resumable, with progress; call any method of
 * MediaService and PostService with the generated clients.
 *
 *     import { MediaUploader } from "@media-mesh/web";
 *     const uploader = new MediaUploader({ gateway: "https://api.example.com", token });
 *     const media = await uploader.upload(file, { mediaType: "post-image", onProgress });
 *
 * The React hook is in "@media-mesh/web/react", the Uppy adapter in
 * "@media-mesh/web/uppy".
 */

export { type GatewayOptions, gatewayTransport, type MediaClient, mediaClient, type PostClient, postClient, type TokenSource } from "./client.js";
export { StorageRefusal, UploadError } from "./errors.js";
export { type Media, MediaStatus, type Variant } from "./gen/media/v1/media_pb.js";
export type { Post } from "./gen/post/v1/post_pb.js";
export { backoffDelay, isRetryable, MAX_ATTEMPTS, type PartSpec, planParts, type ResumeRecord } from "./plan.js";
export { type KeyValueStore, ResumeStore } from "./resume.js";
export {
  DEFAULT_CONCURRENCY,
  MediaUploader,
  type PartProgress,
  SINGLE_PUT_LIMIT,
  sha256Base64,
  type UploaderOptions,
  type UploadOptions,
  type UploadProgress,
  type UploadStatus,
} from "./uploader.js";
