/**
 * Where the uploader keeps its multipart uploads between page loads
 * (localStorage by default), so picking the same file again resumes one.
 */

import { type FileFacts, type ResumeRecord, resumes } from "./plan.js";

const KEY = "media-mesh:uploads";

/** The part of the Web Storage API the uploader needs. */
export type KeyValueStore = Pick<Storage, "getItem" | "setItem">;

export class ResumeStore {
  constructor(private readonly store: KeyValueStore | undefined = defaultStore()) {}

  /** The saved upload of this file as this media type (and visibility), if any. */
  find(file: FileFacts, mediaType: string, isPrivate = false): ResumeRecord | undefined {
    return this.all().find((record) => resumes(record, file, mediaType, Date.now(), isPrivate));
  }

  save(record: ResumeRecord): void {
    this.write([...this.all().filter((r) => r.mediaId !== record.mediaId), record]);
  }

  forget(mediaId: string): void {
    this.write(this.all().filter((r) => r.mediaId !== mediaId));
  }

  private all(): ResumeRecord[] {
    try {
      const parsed: unknown = JSON.parse(this.store?.getItem(KEY) ?? "[]");
      return Array.isArray(parsed) ? (parsed as ResumeRecord[]) : [];
    } catch {
      return []; // unreadable: start over rather than fail the upload
    }
  }

  private write(records: ResumeRecord[]): void {
    try {
      this.store?.setItem(KEY, JSON.stringify(records));
    } catch {
      // Storage full or blocked (private mode): the upload goes on, unresumable.
    }
  }
}

function defaultStore(): KeyValueStore | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}
