/**
 * One PUT of bytes straight to storage, with upload progress.
 *
 * XMLHttpRequest, because fetch reports no upload progress. Sends exactly the
 * headers given (a presigned URL binds them); resolves with the ETag storage
 * answered, rejects with StorageRefusal (status 0: no answer) or, when the
 * signal fires, with a DOMException named AbortError.
 */

import { StorageRefusal } from "./errors.js";

export interface PutOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Bytes of this body sent so far. */
  onProgress?: (loaded: number) => void;
}

export function put(url: string, body: Blob, options: PutOptions = {}): Promise<string> {
  const { headers = {}, signal, onProgress } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException("aborted", "AbortError"));
      return;
    }
    const xhr = new XMLHttpRequest();
    const stop = () => xhr.abort();
    signal?.addEventListener("abort", stop, { once: true });
    const settle = () => signal?.removeEventListener("abort", stop);
    xhr.open("PUT", url);
    for (const [name, value] of Object.entries(headers)) {
      xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (event) => onProgress?.(event.loaded);
    xhr.onload = () => {
      settle();
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress?.(body.size);
        resolve(xhr.getResponseHeader("ETag") ?? "");
      } else {
        reject(new StorageRefusal(xhr.status, storageMessage(xhr)));
      }
    };
    xhr.onerror = () => {
      settle();
      reject(new StorageRefusal(0, "storage did not answer (network error or CORS refusal)"));
    };
    xhr.onabort = () => {
      settle();
      reject(new DOMException("aborted", "AbortError"));
    };
    xhr.send(body);
  });
}

/** S3's XML error as one line: "storage refused the upload (403 AccessDenied: Request has expired)". */
function storageMessage(xhr: XMLHttpRequest): string {
  const text = xhr.responseText ?? "";
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const detail = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  const said = [code, detail].filter(Boolean).join(": ");
  return `storage refused the upload (${xhr.status}${said ? ` ${said}` : ""})`;
}
