// Following a media: the WatchMedia stream, its re-opens, and the fall-back to polling.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { MediaEventSchema, MediaSchema, MediaStatus } from "../src/gen/media/v1/media_pb.js";
import { afterStream, followMedia, MAX_REOPENS } from "../src/watch.js";

const { PENDING, UPLOADED, PROCESSING, READY, FAILED } = MediaStatus;

/** One step of a scripted stream: a state, a keep-alive, an error, or no answer until cancelled. */
type Step = MediaStatus | "keep-alive" | "hang" | ConnectError;

/** A MediaService with scripted WatchMedia streams (one per open) and GetMedia answers. */
class FakeMedia {
  opens = 0;
  polls = 0;
  readonly signals: AbortSignal[] = [];

  constructor(
    private readonly streams: Step[][],
    private readonly polled: MediaStatus[] = [],
  ) {}

  watchMedia(request: { mediaIds: string[] }, options: { signal?: AbortSignal }) {
    const steps = this.streams[this.opens++] ?? [new ConnectError("no more streams", Code.Unavailable)];
    const signal = options.signal!;
    this.signals.push(signal);
    return (async function* () {
      for (const step of steps) {
        if (step instanceof ConnectError) {
          throw step;
        }
        if (step === "hang") {
          await new Promise((_, reject) =>
            signal.addEventListener("abort", () => reject(new ConnectError("cancelled", Code.Canceled))),
          );
        } else if (step === "keep-alive") {
          yield create(MediaEventSchema, { keepAlive: true });
        } else {
          yield create(MediaEventSchema, { media: media(request.mediaIds[0], step) });
        }
      }
    })();
  }

  async getMedia(request: { mediaId: string }) {
    return media(request.mediaId, this.polled[this.polls++] ?? READY);
  }

  get client(): Parameters<typeof followMedia>[0] {
    return this as unknown as Parameters<typeof followMedia>[0];
  }
}

function media(mediaId: string, status: MediaStatus) {
  return create(MediaSchema, { mediaId, status });
}

const unavailable = () => new ConnectError("connection reset", Code.Unavailable);

/** Follow m1 on `fake`; what was seen, in order, with the upload's completion among it. */
async function follow(fake: FakeMedia, options: { signal?: AbortSignal; opened?: () => Promise<void> } = {}) {
  const seen: string[] = [];
  const done = await followMedia(fake.client, "m1", {
    signal: options.signal,
    onMedia: (m) => seen.push(MediaStatus[m.status]),
    opened:
      options.opened ??
      (async () => {
        seen.push("completed");
      }),
  });
  return { done: MediaStatus[done.status], seen };
}

describe("afterStream", () => {
  it("re-opens a stream broken mid-way, at most MAX_REOPENS times", () => {
    for (const code of [Code.Unavailable, Code.Unknown, Code.DeadlineExceeded]) {
      assert.equal(afterStream({ delivered: true, code, reopens: 0 }), "reopen");
      assert.equal(afterStream({ delivered: true, code, reopens: MAX_REOPENS - 1 }), "reopen");
      assert.equal(afterStream({ delivered: true, code, reopens: MAX_REOPENS }), "poll");
    }
  });

  it("polls when the stream could not be opened at all", () => {
    for (const code of [Code.Unimplemented, Code.ResourceExhausted, Code.Unavailable, Code.Unknown]) {
      assert.equal(afterStream({ delivered: false, code, reopens: 0 }), "poll");
    }
  });

  it("polls when a stream ends OK with no final state, or fails for good", () => {
    assert.equal(afterStream({ delivered: true, reopens: 0 }), "poll");
    assert.equal(afterStream({ delivered: true, code: Code.Internal, reopens: 0 }), "poll");
  });
});

describe("followMedia", () => {
  it("sees every state from the stream, completing after the first, and never polls", async () => {
    const fake = new FakeMedia([[PENDING, "keep-alive", UPLOADED, PROCESSING, "keep-alive", READY]]);

    const { done, seen } = await follow(fake);

    assert.equal(done, "READY");
    assert.deepEqual(seen, ["PENDING", "completed", "UPLOADED", "PROCESSING", "READY"]);
    assert.equal(fake.polls, 0);
    assert.equal(fake.opens, 1);
  });

  it("ends at any final state, FAILED included", async () => {
    const fake = new FakeMedia([[PROCESSING, FAILED]]);

    assert.equal((await follow(fake)).done, "FAILED");
  });

  it("completes and polls when the stream cannot be opened", async () => {
    const fake = new FakeMedia([[new ConnectError("unimplemented", Code.Unimplemented)]], [PROCESSING, READY]);

    const { done, seen } = await follow(fake);

    assert.equal(done, "READY");
    assert.deepEqual(seen, ["completed", "PROCESSING", "READY"]);
    assert.equal(fake.opens, 1);
  });

  it("re-opens a stream that breaks mid-way, and finishes on the new one", async () => {
    const fake = new FakeMedia([
      [PENDING, UPLOADED, unavailable()],
      [UPLOADED, PROCESSING, READY],
    ]);

    const { done, seen } = await follow(fake);

    assert.equal(done, "READY");
    assert.deepEqual(seen, ["PENDING", "completed", "UPLOADED", "UPLOADED", "PROCESSING", "READY"]);
    assert.equal(fake.opens, 2);
    assert.equal(fake.polls, 0);
  });

  it("polls once the re-opens are used up", async () => {
    const fake = new FakeMedia(
      [
        [PENDING, unavailable()],
        [PROCESSING, unavailable()],
        [PROCESSING, unavailable()],
      ],
      [READY],
    );

    const { done } = await follow(fake);

    assert.equal(done, "READY");
    assert.equal(fake.opens, 1 + MAX_REOPENS);
    assert.equal(fake.polls, 1);
  });

  it("polls when a stream ends OK before a final state", async () => {
    const fake = new FakeMedia([[PENDING, UPLOADED]], [PROCESSING, READY]);

    const { done, seen } = await follow(fake);

    assert.equal(done, "READY");
    assert.deepEqual(seen, ["PENDING", "completed", "UPLOADED", "PROCESSING", "READY"]);
    assert.equal(fake.opens, 1);
  });

  it("cancels the stream and rejects with the completion's error when completing fails", async () => {
    const fake = new FakeMedia([[PENDING, "hang"]]);
    const refused = new ConnectError("upload rejected", Code.InvalidArgument);

    await assert.rejects(follow(fake, { opened: () => Promise.reject(refused) }), refused);

    assert.equal(fake.signals[0].aborted, true);
    assert.equal(fake.polls, 0);
  });

  it("stops the stream when the caller aborts", async () => {
    const fake = new FakeMedia([[PENDING, "hang"]]);
    const caller = new AbortController();
    setTimeout(() => caller.abort(), 20);

    await assert.rejects(follow(fake, { signal: caller.signal }), (e: ConnectError) => e.code === Code.Canceled);

    assert.equal(fake.signals[0].aborted, true);
    assert.equal(fake.opens, 1);
    assert.equal(fake.polls, 0);
  });
});
