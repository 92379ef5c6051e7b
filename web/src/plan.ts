/**
 * The uploader's pure decisions, with no I/O: which byte range is which part,
 * when and how long to wait before retrying a PUT, and which saved upload a
 * picked file resumes.
 */

/** One part of a multipart upload: bytes [start, end) of the file. */
export interface PartSpec {
  number: number;
  start: number;
  end: number;
}

/** The parts the server laid out: `partSize` each, the last one the remainder. */
export function planParts(fileSize: number, partSize: number, totalParts: number): PartSpec[] {
  if (partSize <= 0 || totalParts <= 0 || (totalParts - 1) * partSize >= fileSize) {
    throw new RangeError(`no layout of ${totalParts} parts of ${partSize} bytes fits ${fileSize} bytes`);
  }
  if (totalParts * partSize < fileSize) {
    throw new RangeError(`${totalParts} parts of ${partSize} bytes do not cover ${fileSize} bytes`);
  }
  return Array.from({ length: totalParts }, (_, i) => ({
    number: i + 1,
    start: i * partSize,
    end: Math.min((i + 1) * partSize, fileSize),
  }));
}

const MIB = 1024 * 1024;

/**
 * The part size the server lays a multipart upload out with: at least 8 MiB,
 * grown in whole MiB so that no upload needs more than 10,000 parts (the
 * server's policy, media_service/multipart.py). Uppy asks for it before the
 * session exists; the adapter checks it against the session.
 */
export function serverPartSize(fileSize: number): number {
  return Math.max(8 * MIB, Math.ceil(Math.ceil(fileSize / 10_000) / MIB) * MIB);
}

/** How the server cuts a multipart upload of `fileSize` bytes (media_formats/part_layout.py). */
export interface PartLayout {
  partSize: number;
  totalParts: number;
}

/**
 * The server's layout, known before the session exists: the uploader hashes
 * each part and declares the digests when it asks for the session.
 */
export function layoutFor(fileSize: number): PartLayout {
  const partSize = serverPartSize(fileSize);
  return { partSize, totalParts: Math.ceil(fileSize / partSize) };
}

/** A PUT is tried this often in all: the first try and three retries. */
export const MAX_ATTEMPTS = 4;
export const FIRST_DELAY_MS = 500;
export const MAX_DELAY_MS = 8_000;

/**
 * How long to wait after failed attempt `attempt` (1-based): exponential,
 * capped, with jitter so that parallel parts failing together do not retry
 * in lockstep. `random` is Math.random's shape, for tests.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const exponential = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (attempt - 1));
  return Math.round(exponential * (0.5 + random() / 2));
}

/**
 * Whether a PUT that ended with HTTP `status` (0: no answer at all) may
 * succeed if tried again. 403 is storage's answer to an expired URL: worth
 * a retry with a freshly signed one.
 */
export function isRetryable(status: number): boolean {
  return status === 0 || status === 403 || status === 408 || status === 429 || status >= 500;
}

/** What the uploader remembers of a multipart upload, to resume it after a reload. */
export interface ResumeRecord {
  mediaId: string;
  mediaType: string;
  /** Saved before visibility existed: public. */
  private?: boolean;
  fileName: string;
  size: number;
  lastModified: number;
  savedAt: number;
  /** Each part's SHA-256 was declared, so its URLs bind the checksum header the
   * uploader sends. Uploads saved before that bind none: not resumed. */
  partChecksums?: boolean;
}

/** The facts of a picked file a saved upload is matched on. */
export interface FileFacts {
  name: string;
  size: number;
  lastModified: number;
}

/** A saved upload older than this is not resumed (the server's session lasts 24 h). */
export const RESUME_MAX_AGE_MS = 23 * 60 * 60 * 1000;

/** Whether `record` is an upload of this very file, as this media type, still worth resuming. */
export function resumes(
  record: ResumeRecord,
  file: FileFacts,
  mediaType: string,
  now: number = Date.now(),
  isPrivate = false,
): boolean {
  return (
    record.fileName === file.name &&
    record.size === file.size &&
    record.lastModified === file.lastModified &&
    record.mediaType === mediaType &&
    (record.private ?? false) === isPrivate && // a public upload never goes on as a private one
    record.partChecksums === true &&
    now - record.savedAt < RESUME_MAX_AGE_MS
  );
}
