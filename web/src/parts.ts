/**
 * The parts of one multipart upload, PUT straight to storage in parallel.
 *
 * Each part is tried up to MAX_ATTEMPTS times with backoff and jitter; a part
 * whose URL storage refuses as expired (403), or that has no URL yet (the
 * server signs at most 100 at a time), gets a fresh one from ListUploadParts.
 */

import type { MediaClient } from "./client.js";
import { StorageRefusal } from "./errors.js";
import { backoffDelay, isRetryable, MAX_ATTEMPTS, type PartSpec } from "./plan.js";
import { put } from "./transfer.js";

export interface PartsJob {
  media: MediaClient;
  mediaId: string;
  file: Blob;
  /** The parts still to send. */
  parts: PartSpec[];
  /** URLs already signed, by part number. */
  urls: Map<number, string>;
  /** Each part's SHA-256 (base64), by part number: sent as `x-amz-checksum-sha256`,
   * which the part's URL binds. */
  checksums: Map<number, string>;
  concurrency: number;
  signal?: AbortSignal;
  /** Bytes sent so far of part `number` (its whole size once stored). */
  onPartProgress: (number: number, loaded: number) => void;
}

/** Send every part of `job`; the ETag storage gave each, by part number. */
export async function sendParts(job: PartsJob): Promise<Map<number, string>> {
  const etags = new Map<number, string>();
  const queue = [...job.parts];
  const signer = new PartSigner(job);
  const worker = async () => {
    for (let part = queue.shift(); part; part = queue.shift()) {
      etags.set(part.number, await sendPart(job, signer, part));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, job.concurrency) }, worker));
  return etags;
}

async function sendPart(job: PartsJob, signer: PartSigner, part: PartSpec): Promise<string> {
  const body = job.file.slice(part.start, part.end);
  const checksum = job.checksums.get(part.number);
  if (checksum === undefined) {
    throw new Error(`no checksum for part ${part.number}`);
  }
  return withRetries(
    async () =>
      put(await signer.urlFor(part.number), body, {
        headers: { "x-amz-checksum-sha256": checksum },
        signal: job.signal,
        onProgress: (loaded) => job.onPartProgress(part.number, loaded),
      }),
    {
      signal: job.signal,
      renew: () => signer.expire(part.number),
      onFailedAttempt: () => job.onPartProgress(part.number, 0),
    },
  );
}

export interface RetryOptions {
  signal?: AbortSignal;
  /** Called on 403 (an expired URL): the next attempt gets a fresh one. Without
   * it a 403 is final (a single PUT's URL cannot be renewed). */
  renew?: () => void;
  onFailedAttempt?: () => void;
}

/** `send` a PUT, retried up to MAX_ATTEMPTS in all with backoff and jitter when
 * storage's answer may be different next time. */
export async function withRetries(send: () => Promise<string>, options: RetryOptions = {}): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      options.onFailedAttempt?.();
      const status = error instanceof StorageRefusal ? error.httpStatus : -1;
      const renewable = status !== 403 || options.renew !== undefined;
      if (status < 0 || !isRetryable(status) || !renewable || attempt >= MAX_ATTEMPTS) {
        throw error;
      }
      if (status === 403) {
        options.renew?.();
      }
      await sleep(backoffDelay(attempt), options.signal);
    }
  }
}

/** Fresh part URLs from ListUploadParts, one request per batch however many parts wait. */
class PartSigner {
  private pending = new Map<number, Promise<void>>();

  constructor(private readonly job: PartsJob) {}

  async urlFor(number: number): Promise<string> {
    let url = this.job.urls.get(number);
    while (url === undefined) {
      await this.sign(number);
      url = this.job.urls.get(number);
      if (url === undefined) {
        throw new Error(`the server gave no URL for part ${number}`);
      }
    }
    return url;
  }

  expire(number: number): void {
    this.job.urls.delete(number);
  }

  private sign(number: number): Promise<void> {
    let batch = this.pending.get(number);
    if (!batch) {
      batch = this.fetchFrom(number).finally(() => this.pending.delete(number));
      this.pending.set(number, batch);
    }
    return batch;
  }

  /** URLs for the missing parts from `number` on (a batch of them). */
  private async fetchFrom(number: number): Promise<void> {
    const listing = await this.job.media.listUploadParts(
      { mediaId: this.job.mediaId, partNumberMarker: number - 1 },
      { signal: this.job.signal },
    );
    for (const part of listing.missingParts) {
      this.job.urls.set(part.partNumber, part.uploadUrl);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException("aborted", "AbortError"));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    };
    signal?.addEventListener("abort", stop, { once: true });
  });
}
