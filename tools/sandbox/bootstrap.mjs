// Lodestar's sandbox, guest side: Pyodide (CPython compiled to WebAssembly) inside Deno.
//
// Deno runs this file with read access to the Pyodide files and one fresh temporary folder only, write access to
// that folder only, and no network, subprocess, FFI or environment permission: whatever the Python program does
// (including reaching Deno's own API through Pyodide's `js` module) is checked by Deno's permission model.
// The host talks to us in JSON lines: stdin brings {"type": "run" | "result"}, stdout takes
// {"type": "ready" | "call" | "done"}. A tool call blocks the program on a synchronous read of stdin.
const [pyodideDir, workDir] = Deno.args;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function send(message) {
  const bytes = encoder.encode(JSON.stringify(message) + "\n");
  let sent = 0;
  while (sent < bytes.length) sent += Deno.stdout.writeSync(bytes.subarray(sent));
}

let pending = new Uint8Array(0);
function readLine() {
  // One line from stdin, synchronously (a tool call must block the Python program); null at end of input.
  const chunk = new Uint8Array(65536);
  for (;;) {
    const newline = pending.indexOf(10);
    if (newline >= 0) {
      const line = decoder.decode(pending.subarray(0, newline));
      pending = pending.slice(newline + 1);
      return line;
    }
    const n = Deno.stdin.readSync(chunk);
    if (n === null || n === 0) return null;
    const joined = new Uint8Array(pending.length + n);
    joined.set(pending);
    joined.set(chunk.subarray(0, n), pending.length);
    pending = joined;
  }
}

let nextCall = 0;
function hostCall(name, argsJson) {
  const id = ++nextCall;
  send({ type: "call", id, name, args: JSON.parse(argsJson) });
  for (;;) {
    const line = readLine();
    if (line === null) Deno.exit(0); // the host went away: nothing is left to do
    const message = JSON.parse(line);
    if (message.type === "result" && message.id === id) return JSON.stringify(message);
  }
}

const started = performance.now();
const { loadPyodide } = await import(new URL(`file://${pyodideDir}/pyodide.mjs`).href);
let rawOut = "";
const py = await loadPyodide({
  indexURL: pyodideDir + "/",
  stdout: (text) => { rawOut += text + "\n"; },
  stderr: (text) => { rawOut += text + "\n"; },
});
py.mountNodeFS("/sandbox", workDir);
py.registerJsModule("_lodestar_host", { call: hostCall });
send({ type: "ready", load_s: (performance.now() - started) / 1000 });

for (;;) {
  const line = readLine();
  if (line === null) break;
  const message = JSON.parse(line);
  if (message.type === "init") {
    py.runPython(message.prelude);
    send({ type: "done", ok: true, output: "" });
  } else if (message.type === "run") {
    rawOut = "";
    let report;
    try {
      const run = py.globals.get("_lodestar_run");
      report = JSON.parse(run(message.code, JSON.stringify(message.tools), message.output_bytes));
    } catch (error) {
      report = { ok: false, output: "", error: String(error).slice(-2000), kind: "crashed" };
    }
    if (rawOut) report.output = (report.output + rawOut).slice(0, message.output_bytes);
    // The nonce is module-local, out of the program's reach: a "done" line the program forges cannot match it.
    send({ type: "done", ...report, nonce: message.nonce });
  }
}
