/**
 * The demo page: pick a photo or a video, watch it go straight to storage,
 * then post it. Built on the library's uploader and React hook; the token
 * comes from the URL fragment (#token=…), the gateway from /config.json.
 */

import { decode } from "blurhash";
import { useEffect, useMemo, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import { gatewayTransport, type Media, MediaUploader, postClient } from "../src/index.js";
import { useMediaUpload } from "../src/react.js";

interface Config {
  gatewayUrl: string;
}

function tokenFromFragment(): string {
  return new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
}

function mediaTypeOf(file: File): string {
  return file.type.startsWith("video/") ? "post-video" : "post-image";
}

function App({ config, token }: { config: Config; token: string }) {
  const uploader = useMemo(() => new MediaUploader({ gateway: config.gatewayUrl, token }), [config, token]);
  const { upload, abort, progress, status, history, error, media } = useMediaUpload(uploader);
  const percent = Math.round(progress * 100);
  const busy = ["preparing", "uploading", "completing", "PENDING"].includes(status);
  return (
    <>
      <section className="card">
        <label className="drop">
          <strong>Choose a photo or a video</strong>
          <div className="muted">It goes straight to storage; the server only signs and checks.</div>
          <input
            type="file"
            accept="image/*,video/*"
            onChange={(e) => {
              const file = e.target.files?.[0];
              if (file) void upload(file, { mediaType: mediaTypeOf(file) });
            }}
          />
        </label>
        <div className="row">
          <progress data-testid="progress" max={100} value={percent} />
          <span className="pct">{percent}%</span>
          <span data-testid="status" className={`badge ${status}`}>{status}</span>
          <button className="secondary" data-testid="abort" disabled={!busy} onClick={abort}>
            Cancel
          </button>
        </div>
        <ol data-testid="status-history" className="history">
          {history.map((step, i) => (
            <li key={i}>{step}</li>
          ))}
        </ol>
        <div data-testid="error" className="error">{error?.message ?? (media?.failureReason || "")}</div>
        {media?.cdnUrl && <Preview media={media} />}
      </section>
      {media?.cdnUrl && <PostForm config={config} token={token} media={media} />}
    </>
  );
}

function Preview({ media }: { media: Media }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [loaded, setLoaded] = useState(false);
  const thumb = media.variants.find((v) => v.name === "thumb")?.url || media.posterUrl;
  useEffect(() => {
    const context = canvas.current?.getContext("2d");
    if (!media.blurhash || !context) return;
    const pixels = decode(media.blurhash, 32, 24);
    context.putImageData(new ImageData(new Uint8ClampedArray(pixels), 32, 24), 0, 0);
  }, [media.blurhash]);
  return (
    <>
      <div className="preview" style={media.width && media.height ? { aspectRatio: `${media.width} / ${media.height}` } : undefined}>
        <canvas ref={canvas} width={32} height={24} />
        {thumb && (
          <img data-testid="thumbnail" src={thumb} alt={media.fileName} style={{ opacity: loaded ? 1 : 0 }} onLoad={() => setLoaded(true)} />
        )}
      </div>
      <p className="muted">
        Stored at{" "}
        <a data-testid="cdn-url" href={media.cdnUrl} target="_blank" rel="noreferrer">
          {media.cdnUrl}
        </a>
      </p>
    </>
  );
}

function PostForm({ config, token, media }: { config: Config; token: string; media: Media }) {
  const posts = useMemo(() => postClient(gatewayTransport({ gateway: config.gatewayUrl, token })), [config, token]);
  const [content, setContent] = useState("");
  const [postId, setPostId] = useState("");
  const [failure, setFailure] = useState("");
  const submit = async () => {
    setFailure("");
    try {
      const post = await posts.createPost({ content, mediaIds: [media.mediaId], idempotencyKey: crypto.randomUUID() });
      setPostId(post.postId);
    } catch (caught) {
      setFailure((caught as Error).message);
    }
  };
  return (
    <section className="card">
      <textarea data-testid="post-content" placeholder="Say something about it" value={content} onChange={(e) => setContent(e.target.value)} />
      <div className="row">
        <button data-testid="post-submit" disabled={Boolean(postId)} onClick={() => void submit()}>
          Post
        </button>
        <span className="muted">
          {postId ? "Posted as " : ""}
          <code data-testid="post-id">{postId}</code>
        </span>
      </div>
      <div className="error">{failure}</div>
    </section>
  );
}

function NoToken() {
  return (
    <section className="card">
      <p>This page needs a token in its address:</p>
      <p>
        <code>make token USER=alice</code>, then open <code>{location.origin}/#token=…</code>
      </p>
    </section>
  );
}

async function main(): Promise<void> {
  const config = (await (await fetch("config.json")).json()) as Config;
  const token = tokenFromFragment();
  const root = createRoot(document.getElementById("app")!);
  root.render(
    <>
      <h1>Media mesh</h1>
      <p className="lead">Direct-to-storage uploads, verified and processed, then posted.</p>
      {token ? <App config={config} token={token} /> : <NoToken />}
    </>,
  );
}

void main();
