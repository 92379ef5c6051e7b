/**
 * The uploader as a React hook:
 *
 *     const { upload, abort, progress, status, history, error, media } = useMediaUpload(uploader);
 *
 * `upload(file, {mediaType})` starts an upload (aborting one still running),
 * `abort()` stops it (and aborts it on the server), `progress` is 0..1,
 * `history` every status of the current upload in the order they came.
 * React is a peer dependency: this module is not part of the core bundle.
 */

import { useCallback, useEffect, useRef, useState } from "react";
import type { UploadError } from "./errors.js";
import type { Media } from "./gen/media/v1/media_pb.js";
import type { MediaUploader, UploadOptions, UploadStatus } from "./uploader.js";

export type HookStatus = "idle" | UploadStatus | "ABORTED" | "ERROR";

export interface MediaUploadState {
  upload: (file: File, options: Omit<UploadOptions, "signal" | "onProgress" | "onStatus">) => Promise<Media | undefined>;
  abort: () => void;
  /** 0..1 of the file's bytes in storage. */
  progress: number;
  status: HookStatus;
  /** The current upload's statuses so far, oldest first, each once in a row. */
  history: HookStatus[];
  error: UploadError | null;
  media: Media | null;
}

export function useMediaUpload(uploader: MediaUploader): MediaUploadState {
  const [progress, setProgress] = useState(0);
  const [status, setStatus] = useState<HookStatus>("idle");
  const [history, setHistory] = useState<HookStatus[]>([]);
  const [error, setError] = useState<UploadError | null>(null);
  const [media, setMedia] = useState<Media | null>(null);
  const running = useRef<AbortController | null>(null);

  useEffect(() => () => running.current?.abort(), []);

  const abort = useCallback(() => running.current?.abort(), []);

  const show = useCallback((next: HookStatus) => {
    setStatus(next);
    setHistory((seen) => (seen[seen.length - 1] === next ? seen : [...seen, next]));
  }, []);

  const upload = useCallback<MediaUploadState["upload"]>(
    async (file, options) => {
      running.current?.abort();
      const controller = new AbortController();
      running.current = controller;
      const current = () => running.current === controller;
      setProgress(0);
      setHistory([]);
      setError(null);
      setMedia(null);
      try {
        const done = await uploader.upload(file, {
          ...options,
          signal: controller.signal,
          onProgress: (p) => current() && setProgress(p.fraction),
          onStatus: (s, m) => {
            if (!current()) return;
            show(s);
            if (m) setMedia(m);
          },
        });
        if (current()) setMedia(done);
        return done;
      } catch (caught) {
        const failure = caught as UploadError;
        if (current()) {
          show(failure.reason === "ABORTED" ? "ABORTED" : "ERROR");
          setError(failure);
        }
        return undefined;
      }
    },
    [uploader, show],
  );

  return { upload, abort, progress, status, history, error, media };
}
