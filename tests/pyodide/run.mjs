// Run Python inside Pyodide (xlwings Lite's runtime) under Node.js, offline.
// Usage: node run.mjs JOB.json
// JOB: {"wheels": [paths], "env": {NAME: value}, "files": {pyodide path: text}, "code": python source}
// The code's last expression must be a string; it is printed on stdout after a marker line.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "pyodide";

const here = dirname(fileURLToPath(import.meta.url));
const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const pyodide = await loadPyodide({
  indexURL: join(here, "node_modules", "pyodide") + "/",
  env: { HOME: "/home/pyodide", ...job.env },
  stdout: (line) => process.stderr.write(line + "\n"), // keep stdout for the result
  stderr: (line) => process.stderr.write(line + "\n"),
});
for (const wheel of job.wheels) {
  await pyodide.loadPackage(wheel, { messageCallback: () => {}, errorCallback: (m) => process.stderr.write(m + "\n") });
}
for (const [path, text] of Object.entries(job.files ?? {})) {
  pyodide.FS.mkdirTree(dirname(path));
  pyodide.FS.writeFile(path, text);
}
const result = await pyodide.runPythonAsync(job.code);
process.stdout.write("--- result ---\n" + result + "\n");
