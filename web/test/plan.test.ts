// The uploader's pure decisions: part plan, retry policy, resume matching.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  backoffDelay,
  FIRST_DELAY_MS,
  isRetryable,
  layoutFor,
  MAX_ATTEMPTS,
  MAX_DELAY_MS,
  planParts,
  type ResumeRecord,
  RESUME_MAX_AGE_MS,
  resumes,
  serverPartSize,
} from "../src/plan.js";

const MIB = 1024 * 1024;

describe("planParts", () => {
  it("covers the file with the server's part size, the last part the remainder", () => {
    const parts = planParts(20 * MIB, 8 * MIB, 3);

    assert.deepEqual(parts, [
      { number: 1, start: 0, end: 8 * MIB },
      { number: 2, start: 8 * MIB, end: 16 * MIB },
      { number: 3, start: 16 * MIB, end: 20 * MIB },
    ]);
  });

  it("gives one part when the file fits in it", () => {
    assert.deepEqual(planParts(6 * MIB, 8 * MIB, 1), [{ number: 1, start: 0, end: 6 * MIB }]);
  });

  it("refuses a layout that does not cover the file, or has an empty last part", () => {
    assert.throws(() => planParts(20 * MIB, 8 * MIB, 2), /do not cover/);
    assert.throws(() => planParts(16 * MIB, 8 * MIB, 3), /no layout/);
    assert.throws(() => planParts(16 * MIB, 0, 3), /no layout/);
  });
});

describe("serverPartSize", () => {
  it("is 8 MiB, grown in whole MiB so that no upload needs more than 10,000 parts", () => {
    assert.equal(serverPartSize(12 * MIB), 8 * MIB);
    assert.equal(serverPartSize(2 * 1024 * MIB), 8 * MIB);
    assert.equal(serverPartSize(100_000 * MIB), 10 * MIB);
    assert.ok(Math.ceil((100_000 * MIB) / serverPartSize(100_000 * MIB)) <= 10_000);
  });
});

describe("layoutFor", () => {
  it("cuts the file as the server does: parts of at least 8 MiB, at most 10,000 of them", () => {
    assert.deepEqual(layoutFor(5 * MIB + 1), { partSize: 8 * MIB, totalParts: 1 });
    assert.deepEqual(layoutFor(20 * MIB), { partSize: 8 * MIB, totalParts: 3 });
    assert.deepEqual(layoutFor(2 * 1024 * MIB), { partSize: 8 * MIB, totalParts: 256 });
    // ceil(100e9 / 10,000) = 10,000,000 bytes, rounded up to whole MiB: 10 MiB.
    assert.deepEqual(layoutFor(100e9), { partSize: 10 * MIB, totalParts: Math.ceil(100e9 / (10 * MIB)) });
    assert.ok(layoutFor(100e9).totalParts <= 10_000);
  });

  it("is a layout planParts accepts", () => {
    const size = 2 * 1024 * MIB + 3;
    const { partSize, totalParts } = layoutFor(size);
    const parts = planParts(size, partSize, totalParts);
    assert.equal(parts.length, 257);
    assert.equal(parts.at(-1)?.end, size);
  });
});

describe("backoffDelay", () => {
  it("doubles from the first delay, with jitter between half and all of it", () => {
    assert.equal(backoffDelay(1, () => 0), FIRST_DELAY_MS / 2);
    assert.equal(backoffDelay(1, () => 1), FIRST_DELAY_MS);
    assert.equal(backoffDelay(3, () => 1), FIRST_DELAY_MS * 4);
  });

  it("is capped", () => {
    assert.equal(backoffDelay(30, () => 1), MAX_DELAY_MS);
  });

  it("spreads parallel retries apart", () => {
    const delays = new Set(Array.from({ length: 20 }, () => backoffDelay(2)));
    assert.ok(delays.size > 5);
  });

  it("allows three retries after the first try", () => {
    assert.equal(MAX_ATTEMPTS, 4);
  });
});

describe("isRetryable", () => {
  it("retries outages, throttling and expired URLs, not refusals", () => {
    for (const status of [0, 403, 408, 429, 500, 502, 503]) {
      assert.ok(isRetryable(status), `${status} is worth another try`);
    }
    for (const status of [400, 404, 411, 412, 413]) {
      assert.ok(!isRetryable(status), `${status} will fail again`);
    }
  });
});

describe("resumes", () => {
  const file = { name: "clip.mp4", size: 20 * MIB, lastModified: 1_700_000_000_000 };
  const record: ResumeRecord = {
    mediaId: "m1",
    mediaType: "post-video",
    fileName: file.name,
    size: file.size,
    lastModified: file.lastModified,
    savedAt: 1_000,
    partChecksums: true,
  };

  it("matches the same file as the same media type", () => {
    assert.ok(resumes(record, file, "post-video", 2_000));
  });

  it("does not match another file, another version of it, or another media type", () => {
    assert.ok(!resumes(record, { ...file, name: "other.mp4" }, "post-video", 2_000));
    assert.ok(!resumes(record, { ...file, size: file.size + 1 }, "post-video", 2_000));
    assert.ok(!resumes(record, { ...file, lastModified: 1 }, "post-video", 2_000));
    assert.ok(!resumes(record, file, "avatar", 2_000));
    assert.ok(!resumes(record, file, "post-video", 2_000, true)); // saved public, asked private
    assert.ok(resumes({ ...record, private: true }, file, "post-video", 2_000, true));
  });

  it("does not resume an upload saved before part checksums were declared", () => {
    const { partChecksums: _, ...before } = record;
    assert.ok(!resumes(before, file, "post-video", 2_000));
  });

  it("does not resume an upload older than the server keeps it", () => {
    assert.ok(!resumes(record, file, "post-video", record.savedAt + RESUME_MAX_AGE_MS));
  });
});
