// Remembering multipart uploads across page loads.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ResumeRecord } from "../src/plan.js";
import { type KeyValueStore, ResumeStore } from "../src/resume.js";

function memory(): KeyValueStore & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
}

const record = (mediaId: string, fileName = "a.mp4"): ResumeRecord => ({
  mediaId,
  mediaType: "post-video",
  fileName,
  size: 10,
  lastModified: 5,
  savedAt: Date.now(),
  partChecksums: true,
});

describe("ResumeStore", () => {
  it("finds a saved upload by its file and forgets it", () => {
    const store = new ResumeStore(memory());
    store.save(record("m1"));
    store.save(record("m2", "b.mp4"));

    assert.equal(store.find({ name: "b.mp4", size: 10, lastModified: 5 }, "post-video")?.mediaId, "m2");
    store.forget("m2");
    assert.equal(store.find({ name: "b.mp4", size: 10, lastModified: 5 }, "post-video"), undefined);
    assert.equal(store.find({ name: "a.mp4", size: 10, lastModified: 5 }, "post-video")?.mediaId, "m1");
  });

  it("saving a media again replaces its record", () => {
    const kv = memory();
    const store = new ResumeStore(kv);
    store.save(record("m1"));
    store.save(record("m1"));

    assert.equal(JSON.parse(kv.data.get("media-mesh:uploads") ?? "[]").length, 1);
  });

  it("treats unreadable or missing storage as empty instead of failing", () => {
    const kv = memory();
    kv.data.set("media-mesh:uploads", "{not json");
    assert.equal(new ResumeStore(kv).find({ name: "a.mp4", size: 10, lastModified: 5 }, "post-video"), undefined);

    const none = new ResumeStore(undefined);
    none.save(record("m1"));
    assert.equal(none.find({ name: "a.mp4", size: 10, lastModified: 5 }, "post-video"), undefined);
  });

  it("keeps working when the browser refuses to store", () => {
    const full: KeyValueStore = {
      getItem: () => null,
      setItem: () => {
        throw new DOMException("quota", "QuotaExceededError");
      },
    };
    assert.doesNotThrow(() => new ResumeStore(full).save(record("m1")));
  });
});
