// Builds the browser client with esbuild:
//   node scripts/build.mjs          the library (dist/lib) and the demo pages (dist/demo)
//   node scripts/build.mjs tests    the unit tests, for `node --test build/tests/`
//   node scripts/build.mjs size     the core library's size, minified and gzipped
import { copyFile, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const common = { absWorkingDir: root, bundle: true, format: "esm", target: "es2022", logLevel: "warning" };

async function library() {
  await rm(`${root}dist/lib`, { recursive: true, force: true });
  await esbuild.build({
    ...common,
    entryPoints: ["src/index.ts", "src/react.ts", "src/uppy.ts"],
    outdir: "dist/lib",
    splitting: true,
    minify: true,
    sourcemap: true,
    external: ["react", "@uppy/*"],
  });
}

async function demo() {
  await rm(`${root}dist/demo`, { recursive: true, force: true });
  await esbuild.build({
    ...common,
    entryPoints: ["demo/app.tsx", "demo/uppy.ts"],
    outdir: "dist/demo",
    minify: true,
    sourcemap: true,
    define: { "process.env.NODE_ENV": '"production"' },
  });
  for (const file of ["index.html", "uppy.html", "style.css"]) {
    await copyFile(`${root}demo/${file}`, `${root}dist/demo/${file}`);
  }
}

async function tests() {
  await rm(`${root}build/tests`, { recursive: true, force: true });
  const files = (await readdir(`${root}test`)).filter((f) => f.endsWith(".test.ts"));
  await esbuild.build({
    ...common,
    entryPoints: files.map((f) => `test/${f}`),
    outdir: "build/tests",
    platform: "node",
    outExtension: { ".js": ".mjs" },
  });
}

/** The core (no React, no Uppy) as an app would bundle it: minified, gzipped. */
async function size() {
  const result = await esbuild.build({
    ...common,
    entryPoints: ["src/index.ts"],
    minify: true,
    write: false,
  });
  const code = result.outputFiles[0].contents;
  const report = { minifiedBytes: code.length, gzippedBytes: gzipSync(code, { level: 9 }).length };
  await mkdir(`${root}build`, { recursive: true });
  await writeFile(`${root}build/size.json`, JSON.stringify(report));
  console.log(JSON.stringify(report));
}

const targets = { tests, size, all: async () => { await library(); await demo(); } };
await targets[process.argv[2] ?? "all"]();
