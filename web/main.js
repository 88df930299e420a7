// Loads the wasm-bindgen `--target web` build (web/pkg, made by web/build.sh) and runs the
// quick suite. URL parameters: ?filter=sum,chain (id substrings), ?min_ms=1000 (time per id).
import init, { adapter_info, run_quick_suite } from "./pkg/flopwatt.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const filter = params.get("filter") ?? "";
const minMs = Number(params.get("min_ms") ?? "1000");

function label(r) {
  return r.variant ? `${r.id} (${r.variant})` : r.id;
}

function addRow(r) {
  const tr = document.createElement("tr");
  tr.dataset.verified = String(r.verified);
  const cells = r.verified
    ? [label(r), r.median_ms.toFixed(3), r.gflops.toFixed(2), r.gbps.toFixed(2), "yes"]
    : [label(r), "-", "-", "-", `no: ${r.error}`];
  cells.forEach((text, i) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (i === 4) td.className = r.verified ? "ok" : "bad";
    tr.appendChild(td);
  });
  $("results").querySelector("tbody").appendChild(tr);
}

async function main() {
  await init();
  if (!navigator.gpu) {
    $("status").textContent = "this browser has no WebGPU (navigator.gpu is missing)";
    return;
  }
  try {
    const info = JSON.parse(await adapter_info());
    // Browsers may hide the adapter's name; the driver string or the class still tells.
    const name = info.name || info.driver || info.driver_info || "WebGPU adapter (name hidden by the browser)";
    $("adapter").textContent = `${name} (${info.class} class, ${info.device_type})`;
    $("tier").textContent = info.features.timing_tier;
  } catch (e) {
    $("status").textContent = `no WebGPU adapter: ${e}`;
    return;
  }
  $("status").textContent = "ready";
  $("run").disabled = false;
  $("run").addEventListener("click", async () => {
    $("run").disabled = true;
    $("results").querySelector("tbody").replaceChildren();
    $("roofline").replaceChildren();
    document.body.dataset.state = "running";
    $("status").textContent = "running (each workload is verified, then timed)";
    try {
      const summary = JSON.parse(
        await run_quick_suite(filter, minMs, (row) => addRow(JSON.parse(row))),
      );
      $("tier").textContent = summary.timing_tier === "wall-clock"
        ? "wall-clock (this browser exposes no timestamp queries)"
        : `${summary.timing_tier} (WebGPU timestamp queries)`;
      $("energy").textContent = summary.energy;
      $("roofline").innerHTML = summary.roofline_svg;
      $("status").textContent = `done: ${summary.results.length} verified results; roofline ceilings: ${summary.ceilings}`;
    } catch (e) {
      $("status").textContent = `failed: ${e}`;
    }
    document.body.dataset.state = "done";
    $("run").disabled = false;
  });
}

main();
