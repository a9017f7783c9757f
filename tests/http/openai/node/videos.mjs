// The official openai npm package against a grokimagine server: create, poll, download, list,
// remix, edit, extend, delete, and the SDK's error classes. Prints one JSON line of findings.
// Usage: node videos.mjs BASE_URL API_KEY OUTPUT_DIR
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import OpenAI from "openai";

const [baseURL, apiKey, outputDir] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });

async function poll(id) {
  // The Node SDK has no createAndPoll for videos: poll as its docs show.
  for (let tries = 0; tries < 600; tries += 1) {
    const video = await client.videos.retrieve(id);
    if (video.status === "completed" || video.status === "failed") return video;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`video ${id} did not finish`);
}

async function errorClass(call) {
  try {
    await call();
  } catch (error) {
    return { name: error.constructor.name, status: error.status, code: error.code, param: error.param };
  }
  return null;
}

const created = await client.videos.create({ prompt: "a kite from node", size: "1280x720", seconds: "1" });
const video = await poll(created.id);
const response = await client.videos.downloadContent(video.id);
const file = join(outputDir, "node.mp4");
await writeFile(file, Buffer.from(await response.arrayBuffer()));

const remix = await poll((await client.videos.remix(video.id, { prompt: "at dusk" })).id);
const edit = await poll((await client.videos.edit({ prompt: "snow", video: { id: video.id } })).id);
const extension = await poll(
  (await client.videos.extend({ prompt: "more", seconds: "1", video: { id: video.id } })).id,
);
const listed = [];
for await (const item of client.videos.list({ limit: 1 })) listed.push(item.id);
const deleted = await client.videos.delete(remix.id);

const errors = {
  badSize: await errorClass(() => client.videos.create({ prompt: "x", size: "1792x1024" })),
  unknown: await errorClass(() => client.videos.retrieve("task_unknown")),
  badKey: await errorClass(() =>
    new OpenAI({ baseURL, apiKey: "gi_live_wrong", maxRetries: 0 }).videos.retrieve(video.id),
  ),
};

console.log(
  JSON.stringify({
    video: { id: video.id, status: video.status, size: video.size, seconds: video.seconds },
    file,
    remix: { status: remix.status, from: remix.remixed_from_video_id },
    edit: edit.status,
    extension: { status: extension.status, seconds: extension.seconds },
    listed,
    deleted: { id: deleted.id, deleted: deleted.deleted },
    errors,
  }),
);
