/**
 * Uploading a file straight to storage, the whole flow:
 *
 *     session ──▶ PUT (one, or parts in parallel) ──▶ watch ──▶ complete ──▶ follow to a final state
 *        ▲                      │
 *        └─ resume: a saved multipart upload of the same file sends only its missing parts
 *
 * The bytes never pass through the gateway; the gateway is called over
 * grpc-web for the session, the part URLs, completion and the media's state.
 * The media is watched (WatchMedia) from before completing, so every status
 * from PENDING on is seen; GetMedia is polled only when the stream cannot be
 * had (see watch.ts).
 * A file up to the single-PUT limit is hashed (SHA-256, WebCrypto) and the
 * digest declared; a larger one has each part hashed and the digests declared
 * (each part PUT sends its own), so storage and the server can check every byte.
 */

import { type GatewayOptions, gatewayTransport, type MediaClient, mediaClient } from "./client.js";
import { aborted, fromCallError, StorageRefusal, UploadError } from "./errors.js";
import { type Media, MediaStatus, Visibility } from "./gen/media/v1/media_pb.js";
import { sendParts, withRetries } from "./parts.js";
import { layoutFor, type PartSpec, planParts } from "./plan.js";
import { ResumeStore } from "./resume.js";
import { put } from "./transfer.js";
import { followMedia } from "./watch.js";

/** Files up to this size go up in one PUT (the server's multipart threshold). */
export const SINGLE_PUT_LIMIT = 5 * 1024 * 1024;
export const DEFAULT_CONCURRENCY = 4;

export type UploadStatus =
  | "preparing"
  | "uploading"
  | "completing"
  | "PENDING"
  | "UPLOADED"
  | "PROCESSING"
  | "READY"
  | "FAILED"
  | "EXPIRED"
  | "ABORTED"
  | "REJECTED"
  | "DELETED";

export interface PartProgress {
  number: number;
  loaded: number;
  size: number;
}

export interface UploadProgress {
  loaded: number;
  total: number;
  /** loaded / total, 0..1 */
  fraction: number;
  /** Multipart uploads: each part's bytes sent. */
  parts: PartProgress[];
}

export interface UploadOptions {
  /** "post-image", "post-video", "avatar": the server's media-type table. */
  mediaType: string;
  signal?: AbortSignal;
  onProgress?: (progress: UploadProgress) => void;
  onStatus?: (status: UploadStatus, media?: Media) => void;
  /** Parts in flight at once (default 4). */
  concurrency?: number;
  /** Follow the media until its status is final (READY, FAILED, …) before resolving (default true). */
  waitForProcessing?: boolean;
  /** Store it where only signed, short-lived URLs reach it (default false: public). */
  private?: boolean;
}

export interface UploaderOptions extends GatewayOptions {
  /** Where multipart uploads are remembered for resuming (default localStorage). */
  resume?: ResumeStore;
}

export class MediaUploader {
  readonly media: MediaClient;
  readonly resumeStore: ResumeStore;

  constructor(options: UploaderOptions) {
    this.media = mediaClient(gatewayTransport(options));
    this.resumeStore = options.resume ?? new ResumeStore();
  }

  /** Upload `file`; resolves to the media (READY or FAILED unless told not to wait). */
  upload(file: File, options: UploadOptions): Promise<Media> {
    return new Upload(this, file, options).run();
  }

  /** Watch the media (polling when it cannot be watched) until its status is final. */
  follow(mediaId: string, options: Pick<UploadOptions, "signal" | "onStatus"> = {}): Promise<Media> {
    return followMedia(this.media, mediaId, {
      signal: options.signal,
      onMedia: (media) => options.onStatus?.(statusOf(media.status), media),
    });
  }
}

/** The call that completes an upload whose bytes are all in storage. */
type Completion = () => Promise<unknown>;

/** What a multipart session or a parts listing says of the upload's layout. */
interface Layout {
  uploadId: string;
  partSize: bigint;
  totalParts: number;
}

function statusOf(status: MediaStatus): UploadStatus {
  return (MediaStatus[status] as UploadStatus | undefined) ?? "uploading";
}

/** One run of `upload`: remembers the media it made, to abort it if told to. */
class Upload {
  private mediaId = "";
  private completed = false;
  private readonly total: number;
  private readonly loaded = new Map<number, number>();
  private readonly sizes = new Map<number, number>();
  /** Multipart: each part's SHA-256 (base64), by part number. */
  private readonly checksums = new Map<number, string>();

  constructor(
    private readonly uploader: MediaUploader,
    private readonly file: File,
    private readonly options: UploadOptions,
  ) {
    this.total = file.size;
  }

  async run(): Promise<Media> {
    try {
      this.status("preparing");
      const completion = await this.send();
      this.status("completing");
      if (this.options.waitForProcessing === false) {
        await this.complete(completion);
        return await this.uploader.media.getMedia({ mediaId: this.mediaId }, this.callOptions());
      }
      // Watched from before completing: the stream's first state is PENDING.
      return await followMedia(this.uploader.media, this.mediaId, {
        signal: this.options.signal,
        onMedia: (media) => this.options.onStatus?.(statusOf(media.status), media),
        opened: () => this.complete(completion),
      });
    } catch (error) {
      throw await this.failed(error);
    }
  }

  private async complete(completion: Completion): Promise<void> {
    await completion();
    this.completed = true;
  }

  /** Put the file's bytes in storage; resolves to the call that completes the upload. */
  private async send(): Promise<Completion> {
    const saved = this.uploader.resumeStore.find(this.file, this.options.mediaType, this.options.private ?? false);
    const resumed = saved && (await this.resume(saved.mediaId));
    if (resumed) {
      return resumed;
    }
    return this.file.size <= SINGLE_PUT_LIMIT ? this.sendSingle() : this.sendMultipart();
  }

  private async sendSingle(): Promise<Completion> {
    const checksumSha256 = await sha256Base64(this.file);
    const session = await this.createSession(checksumSha256);
    this.track([{ number: 1, start: 0, end: this.file.size }]);
    if (session.deduplicated) {
      // The server has this very file READY already: nothing to PUT, nothing to complete.
      this.progress(1, this.file.size);
      return async () => {};
    }
    this.status("uploading");
    const send = () =>
      put(session.uploadUrl, this.file, {
        headers: session.uploadHeaders,
        signal: this.options.signal,
        onProgress: (loaded) => this.progress(1, loaded),
      });
    await withRetries(send, { signal: this.options.signal });
    return () => this.uploader.media.completeUpload({ mediaId: this.mediaId }, this.callOptions());
  }

  private async sendMultipart(): Promise<Completion> {
    const { partSize, totalParts } = layoutFor(this.file.size);
    const plan = planParts(this.file.size, partSize, totalParts);
    await this.hashParts(plan);
    const session = await this.createSession(
      "",
      plan.map((p) => this.checksums.get(p.number) ?? ""),
    );
    if (Number(session.partSize) !== partSize || session.totalParts !== totalParts) {
      throw new Error(
        `the server laid out ${session.totalParts} parts of ${session.partSize} bytes, not the ${totalParts} of ${partSize} hashed`,
      );
    }
    this.remember();
    const urls = new Map(session.parts.map((p) => [p.partNumber, p.uploadUrl]));
    return this.sendMissingParts(session, new Set(), urls);
  }

  /** Carry on a saved multipart upload; undefined if it cannot be resumed any more. */
  private async resume(mediaId: string): Promise<Completion | undefined> {
    let listing;
    try {
      listing = await this.uploader.media.listUploadParts({ mediaId }, this.callOptions());
    } catch (error) {
      const refused = fromCallError(error);
      if (refused.reason === "ABORTED" || refused.reason === "NETWORK") {
        throw refused;
      }
      this.uploader.resumeStore.forget(mediaId); // ended, completed or gone: start anew
      return undefined;
    }
    this.mediaId = mediaId;
    const stored = new Set(listing.storedParts.map((p) => p.partNumber));
    const urls = new Map(listing.missingParts.map((p) => [p.partNumber, p.uploadUrl]));
    return this.sendMissingParts(listing, stored, urls);
  }

  private async sendMissingParts(
    layout: Layout,
    stored: Set<number>,
    urls: Map<number, string>,
  ): Promise<Completion> {
    const plan = planParts(this.file.size, Number(layout.partSize), layout.totalParts);
    // Resuming: the parts still to send are hashed now (their URLs bind the digests).
    await this.hashParts(plan.filter((p) => !stored.has(p.number)));
    this.track(plan);
    for (const part of plan.filter((p) => stored.has(p.number))) {
      this.loaded.set(part.number, part.end - part.start);
    }
    this.status("uploading");
    this.progress(0, 0);
    const etags = await sendParts({
      media: this.uploader.media,
      mediaId: this.mediaId,
      file: this.file,
      parts: plan.filter((p) => !stored.has(p.number)),
      urls,
      checksums: this.checksums,
      concurrency: this.options.concurrency ?? DEFAULT_CONCURRENCY,
      signal: this.options.signal,
      onPartProgress: (number, loaded) => this.progress(number, loaded),
    });
    const listed = stored.size ? await this.storedEtags() : new Map<number, string>();
    const parts = [...new Map([...listed, ...etags])].sort(([a], [b]) => a - b);
    return async () => {
      await this.uploader.media.completeMultipartUpload(
        {
          mediaId: this.mediaId,
          uploadId: layout.uploadId,
          parts: parts.map(([partNumber, etag]) => ({ partNumber, etag })),
        },
        this.callOptions(),
      );
      this.uploader.resumeStore.forget(this.mediaId);
    };
  }

  private async storedEtags(): Promise<Map<number, string>> {
    const listing = await this.uploader.media.listUploadParts({ mediaId: this.mediaId }, this.callOptions());
    return new Map(listing.storedParts.map((p) => [p.partNumber, p.etag]));
  }

  /** SHA-256 of each part not hashed yet, one part at a time (one part's bytes in memory). */
  private async hashParts(parts: PartSpec[]): Promise<void> {
    for (const part of parts) {
      if (!this.checksums.has(part.number)) {
        this.options.signal?.throwIfAborted();
        this.checksums.set(part.number, await sha256Base64(this.file.slice(part.start, part.end)));
      }
    }
  }

  private async createSession(checksumSha256: string, partChecksumsSha256: string[] = []) {
    const session = await this.uploader.media.createUploadSession(
      {
        fileName: this.file.name,
        fileType: this.file.type,
        fileSize: BigInt(this.file.size),
        mediaType: this.options.mediaType,
        checksumSha256,
        partChecksumsSha256,
        visibility: this.options.private ? Visibility.PRIVATE : Visibility.PUBLIC,
      },
      this.callOptions(),
    );
    this.mediaId = session.mediaId;
    return session;
  }

  private remember(): void {
    this.uploader.resumeStore.save({
      mediaId: this.mediaId,
      mediaType: this.options.mediaType,
      private: this.options.private ?? false,
      fileName: this.file.name,
      size: this.file.size,
      lastModified: this.file.lastModified,
      savedAt: Date.now(),
      partChecksums: true,
    });
  }

  /** The error to reject with; an aborted upload is also aborted on the server. */
  private async failed(error: unknown): Promise<UploadError> {
    const wasAborted = this.options.signal?.aborted || (error instanceof DOMException && error.name === "AbortError");
    if (!wasAborted) {
      return error instanceof StorageRefusal ? error.asUploadError() : fromCallError(error);
    }
    if (this.mediaId && !this.completed) {
      this.uploader.resumeStore.forget(this.mediaId);
      // Best effort: the janitor ends a session nobody completes anyway.
      await this.uploader.media.abortUpload({ mediaId: this.mediaId }).catch(() => undefined);
    }
    return aborted();
  }

  private callOptions() {
    return { signal: this.options.signal };
  }

  private status(status: UploadStatus): void {
    this.options.onStatus?.(status);
  }

  private track(parts: PartSpec[]): void {
    for (const part of parts) {
      this.sizes.set(part.number, part.end - part.start);
      this.loaded.set(part.number, 0);
    }
  }

  private progress(part: number, loaded: number): void {
    if (part) {
      this.loaded.set(part, loaded);
    }
    const sent = [...this.loaded.values()].reduce((sum, n) => sum + n, 0);
    this.options.onProgress?.({
      loaded: sent,
      total: this.total,
      fraction: this.total ? Math.min(1, sent / this.total) : 1,
      parts: [...this.loaded].map(([number, bytes]) => ({
        number,
        loaded: bytes,
        size: this.sizes.get(number) ?? 0,
      })),
    });
  }
}

/** SHA-256 of the whole file, base64: what `checksumSha256` declares. */
export async function sha256Base64(file: Blob): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
  return btoa(String.fromCharCode(...digest));
}
