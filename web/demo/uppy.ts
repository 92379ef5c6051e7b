/**
 * The Uppy adapter at work: files picked here go up through Uppy's own
 * AwsS3 plugin, configured with this library's functions; the result (each
 * file's media id and status, or its error) is written into the page.
 */

import AwsS3 from "@uppy/aws-s3";
import Uppy, { type Body, type Meta } from "@uppy/core";
import { MediaUploader } from "../src/index.js";
import { completeSingleUploads, mediaMeshS3Options } from "../src/uppy.js";

async function main(): Promise<void> {
  const config = (await (await fetch("config.json")).json()) as { gatewayUrl: string };
  const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
  const uploader = new MediaUploader({ gateway: config.gatewayUrl, token });
  const uppy = new Uppy<Meta, Body>({ autoProceed: false });
  uppy.use(AwsS3, {
    ...mediaMeshS3Options(uploader, {
      mediaType: (file) => ((file.type ?? "").startsWith("video/") ? "post-video" : "post-image"),
    }),
    retryDelays: [0, 500, 1000],
  });
  uppy.addPostProcessor(completeSingleUploads(uploader, uppy));
  const input = document.querySelector<HTMLInputElement>("[data-testid=uppy-file]")!;
  const output = document.querySelector<HTMLElement>("[data-testid=uppy-result]")!;
  input.addEventListener("change", async () => {
    for (const file of Array.from(input.files ?? [])) {
      uppy.addFile({ name: file.name, type: file.type, data: file });
    }
    await uppy.upload();
    const files = uppy.getFiles().map((f) => ({
      name: f.name,
      mediaId: f.meta.mediaId ?? "",
      error: f.error ?? "",
      done: Boolean(f.progress.uploadComplete),
    }));
    output.textContent = JSON.stringify(files);
  });
}

void main();
