/**
 * Following a media until its status is final: a WatchMedia stream while one
 * can be had, polling GetMedia when not.
 *
 *     open the stream ──first state──▶ one state per change … final ──▶ done
 *        │ fails before any state             │ breaks mid-way (UNAVAILABLE, network):
 *        │ (UNIMPLEMENTED, RESOURCE_EXHAUSTED, │ re-opened up to MAX_REOPENS times; the new
 *        │  UNAVAILABLE, network, …)           │ stream states the current state again
 *        ▼                                     ▼ re-opens used up, or it ended with no final state
 *     poll GetMedia with backoff ◀─────────────┘
 *
 * `opened` runs once, when the stream has given the media's first state (or
 * could not be opened): an upload completes there, so that the stream sees
 * every change that completing makes.
 */

import { Code, ConnectError } from "@connectrpc/connect";
import type { MediaClient } from "./client.js";
import { type Media, MediaStatus } from "./gen/media/v1/media_pb.js";
import { sleep } from "./parts.js";

export interface FollowOptions {
  signal?: AbortSignal;
  /** Every state of the media seen, in order (the stream's or a poll's). */
  onMedia?: (media: Media) => void;
  /** Runs once, before any change is awaited; if it fails, following stops with its error. */
  opened?: () => Promise<void>;
}

/** States after which a media never changes again (but for deletion). */
const FINAL = new Set([
  MediaStatus.READY,
  MediaStatus.FAILED,
  MediaStatus.EXPIRED,
  MediaStatus.ABORTED,
  MediaStatus.REJECTED,
  MediaStatus.DELETED,
]);

export function isFinal(status: MediaStatus): boolean {
  return FINAL.has(status);
}

/** A stream that broke after giving states is opened again at most this often. */
export const MAX_REOPENS = 2;
export const FIRST_POLL_MS = 300;
export const MAX_POLL_MS = 3_000;

/** How one stream ended without a final state. */
export interface StreamEnd {
  /** Whether it gave at least one state of the media. */
  delivered: boolean;
  /** Its error's code; undefined when it ended OK. */
  code?: Code;
  /** How many times the stream was opened again already. */
  reopens: number;
}

/** Codes of a stream cut off on its way (Unknown is how a dropped connection shows). */
const BROKEN = new Set([Code.Unavailable, Code.Unknown, Code.DeadlineExceeded]);

/** After a stream ended with no final state: open it again, or poll instead. */
export function afterStream(end: StreamEnd): "reopen" | "poll" {
  const broken = end.code !== undefined && BROKEN.has(end.code);
  return end.delivered && broken && end.reopens < MAX_REOPENS ? "reopen" : "poll";
}

type Client = Pick<MediaClient, "watchMedia" | "getMedia">;

/** Follow media `mediaId` until its status is final; resolves to that state. */
export async function followMedia(client: Client, mediaId: string, options: FollowOptions = {}): Promise<Media> {
  let pending = options.opened;
  const opened = async () => {
    const run = pending;
    pending = undefined;
    await run?.();
  };
  for (let reopens = 0; ; reopens++) {
    const end = await watchOnce(client, mediaId, options, opened);
    if ("media" in end) {
      return end.media;
    }
    if (afterStream({ ...end, reopens }) === "poll") {
      break;
    }
    await sleep(FIRST_POLL_MS, options.signal);
  }
  await opened();
  return poll(client, mediaId, options);
}

/** One WatchMedia stream, read until the media is final or the stream ends. */
async function watchOnce(
  client: Client,
  mediaId: string,
  options: FollowOptions,
  opened: () => Promise<void>,
): Promise<{ media: Media } | Omit<StreamEnd, "reopens">> {
  const stream = new AbortController();
  const stop = () => stream.abort();
  options.signal?.addEventListener("abort", stop, { once: true });
  if (options.signal?.aborted) {
    stop();
  }
  let delivered = false;
  try {
    const events = client.watchMedia({ mediaIds: [mediaId] }, { signal: stream.signal })[Symbol.asyncIterator]();
    for (;;) {
      let next;
      try {
        next = await events.next();
      } catch (error) {
        if (options.signal?.aborted) {
          throw error;
        }
        return { delivered, code: ConnectError.from(error).code };
      }
      if (next.done) {
        return { delivered };
      }
      const media = next.value.media; // none on a keep-alive
      if (media?.mediaId !== mediaId) {
        continue;
      }
      delivered = true;
      options.onMedia?.(media);
      await opened();
      if (isFinal(media.status)) {
        return { media };
      }
    }
  } finally {
    options.signal?.removeEventListener("abort", stop);
    stream.abort(); // a no-op once the stream has ended
  }
}

/** GetMedia with backoff until the media is final. */
async function poll(client: Client, mediaId: string, options: FollowOptions): Promise<Media> {
  for (let delay = FIRST_POLL_MS; ; delay = Math.min(delay * 1.5, MAX_POLL_MS)) {
    const media = await client.getMedia({ mediaId }, { signal: options.signal });
    options.onMedia?.(media);
    if (isFinal(media.status)) {
      return media;
    }
    await sleep(delay, options.signal);
  }
}
