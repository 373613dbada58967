// Starts emulate's Vercel and GitHub services on free loopback ports and reports them.
//
//   node serve.mjs < seed.json
//
// Reads the seed config (emulate's format) as JSON on stdin, prints one JSON line
// {"vercel": url, "github": url} on stdout once both listen, and runs until SIGTERM or
// SIGINT, or until the process that started it goes away. Port 0 lets the kernel pick the ports, so
// parallel test sessions never race for one.
import { createEmulator } from "emulate";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const seed = JSON.parse((await readStdin()) || "{}");
const services = ["vercel", "github"];
const emulators = await Promise.all(
  services.map((service) => createEmulator({ service, port: 0, hostname: "127.0.0.1", seed })),
);

// emulate advertises http://localhost:<port>; the tests speak to 127.0.0.1 only.
const urls = Object.fromEntries(
  services.map((service, index) => [service, emulators[index].url.replace("//localhost:", "//127.0.0.1:")]),
);
process.stdout.write(JSON.stringify(urls) + "\n");

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  await Promise.allSettled(emulators.map((emulator) => emulator.close()));
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
// A test session killed outright cannot send SIGTERM: leave with the parent that started us.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) shutdown();
}, 500).unref();
