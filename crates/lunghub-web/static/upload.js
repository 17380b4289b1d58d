// Sends a batch's files one request each, so every file shows its own progress and
// outcome. Files the batch has already recorded are skipped, so sending a whole folder
// again resumes an interrupted upload. Without this script the form still works.
//
// The server keeps no file's name, only a keyed tag of it (names in hospitals carry
// patients' names). This browser keeps the names it sent, by tag, in its own storage, and
// shows them in place of the tags; nothing of that storage leaves this machine.
"use strict";
(function () {
  const zone = document.getElementById("drop-zone");
  if (!zone) return;
  const batch = zone.dataset.batch;
  const csrf = zone.dataset.csrf;
  const limit = Number(zone.dataset.limit);
  const table = document.querySelector("#upload-files tbody");
  const summary = document.getElementById("upload-summary");
  const PARALLEL = 3;
  const RETRIES = 3;
  // Outcomes that are final: a file with one of these is not sent again.
  const DONE = new Set(["new", "duplicate", "near-duplicate", "quarantined", "unreadable", "sidecar", "unpacked"]);
  const STORE = `lunghub-upload-names:${batch}`;
  // The page's texts, in its language, from the server's Fluent messages: `{name}` in one
  // is filled in from `vars`. A text the page lacks reads as its key.
  let TEXTS = {};
  try {
    TEXTS = JSON.parse(zone.dataset.texts || "{}");
  } catch (err) {
    TEXTS = {};
  }
  function say(key, vars) {
    let text = TEXTS[key] || key;
    for (const [k, v] of Object.entries(vars || {})) text = text.split(`{${k}}`).join(String(v));
    return text;
  }
  const outcomeLabel = (outcome) => TEXTS[`outcome-${outcome}`] || outcome;

  function names() {
    try {
      return JSON.parse(localStorage.getItem(STORE) || "{}");
    } catch (err) {
      return {};
    }
  }

  function remember(tag, name) {
    try {
      const known = names();
      known[tag] = name;
      localStorage.setItem(STORE, JSON.stringify(known));
    } catch (err) {
      // Storage full or refused: the page shows the tag instead of the name.
    }
  }

  // Rows the server listed show their tags; put back the names this browser sent them as.
  for (const [tag, name] of Object.entries(names())) {
    const tr = table.querySelector(`tr[data-tag="${CSS.escape(tag)}"]`);
    if (tr) {
      tr.dataset.name = name;
      tr.children[0].textContent = name;
    }
  }

  // The same decimal units as the server's layout::size, so a reloaded page reads the same.
  function humanSize(bytes) {
    if (bytes < 1000) return bytes === 1 ? "1 byte" : `${bytes} bytes`;
    const units = ["KB", "MB", "GB", "TB"];
    let value = bytes / 1000;
    let unit = 0;
    while (value >= 999.95 && unit + 1 < units.length) {
      value /= 1000;
      unit += 1;
    }
    return `${value < 9.95 ? value.toFixed(1) : value.toFixed(0)} ${units[unit]}`;
  }

  function row(name, size, tag) {
    let tr = table.querySelector(`tr[data-name="${CSS.escape(name)}"]`);
    if (!tr && tag) tr = table.querySelector(`tr[data-tag="${CSS.escape(tag)}"]`);
    if (tr && tag) tr.dataset.tag = tag;
    if (tr) {
      tr.dataset.name = name;
      tr.children[0].textContent = name;
    }
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.name = name;
      for (let i = 0; i < 4; i++) tr.appendChild(document.createElement("td"));
      tr.children[0].textContent = name;
      const bar = document.createElement("progress");
      bar.max = 1;
      bar.value = 0;
      tr.children[2].appendChild(bar);
      table.appendChild(tr);
    }
    tr.children[1].textContent = humanSize(size);
    tr.children[1].className = "num";
    return tr;
  }

  // A refused file's line carries `plain` and `next_step` (what happened and what to do, as
  // the server's Cause says them); the technical detail goes below, folded.
  function show(tr, outcome, detail, explained) {
    const cell = tr.children[3];
    cell.className = "outcome " + outcome;
    cell.dataset.outcome = outcome;
    if (explained && explained.plain) {
      cell.replaceChildren(outcomeLabel(outcome));
      const plain = document.createElement("p");
      plain.className = "plain";
      plain.textContent = explained.plain;
      const next = document.createElement("p");
      next.className = "next-step";
      next.textContent = explained.next_step || "";
      cell.append(plain, next);
      if (detail) {
        const folded = document.createElement("details");
        const summary = document.createElement("summary");
        summary.textContent = say("upload-technical-detail");
        const code = document.createElement("code");
        code.textContent = detail;
        folded.append(summary, code);
        cell.append(folded);
      }
    } else {
      cell.textContent = detail ? `${outcomeLabel(outcome)}: ${detail}` : outcomeLabel(outcome);
    }
    tally();
  }

  // The counts above the table, by outcome, as the rows now say.
  function tally() {
    const counts = new Map();
    for (const cell of table.querySelectorAll("td.outcome")) {
      const outcome = cell.dataset.outcome || cell.className.replace("outcome", "").trim();
      counts.set(outcome, (counts.get(outcome) || 0) + 1);
    }
    const line = document.getElementById("tally");
    line.textContent = Array.from(counts, ([k, n]) => `${outcomeLabel(k)}: ${n}`).join(" · ") || say("upload-none-yet");
  }

  function describe(line) {
    const parts = [];
    if (line.item_id) parts.push(line.item_id.slice(0, 12));
    if (line.detail) parts.push(line.detail);
    return parts.join(" ");
  }

  function send(file, name, tr) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", `/upload/batches/${batch}/files`);
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      // In a header, not the URL, which proxies and browsers' histories keep.
      xhr.setRequestHeader("X-File-Name", encodeURIComponent(name));
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      const bar = tr.querySelector("progress");
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable && bar) bar.value = e.loaded / e.total;
      };
      xhr.onload = () => {
        if (xhr.status === 200) {
          try {
            resolve(JSON.parse(xhr.responseText));
          } catch (err) {
            reject(new Error("the server's answer could not be read"));
          }
        } else if (xhr.status >= 500 || xhr.status === 429) {
          reject(new Error(`server error ${xhr.status}`));
        } else {
          // A refusal (too large, signed out, …): retrying would not help.
          const text = xhr.responseText.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
          resolve([{ name, outcome: "refused", detail: `${xhr.status}: ${text.slice(0, 200)}` }]);
        }
      };
      xhr.onerror = () => reject(new Error("the connection was lost"));
      xhr.send(file);
    });
  }

  async function sendWithRetries(file, name, tr) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await send(file, name, tr);
      } catch (err) {
        if (attempt >= RETRIES) throw err;
        show(tr, "retrying", say("upload-retrying", { why: err.message, attempt: attempt + 1, of: RETRIES }));
        await new Promise((r) => setTimeout(r, 1000 * attempt));
      }
    }
  }

  // What the batch already recorded of these names: the server tags each name and forgets it.
  async function recorded(entries) {
    const response = await fetch(`/upload/batches/${batch}/recorded`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ names: entries.map((e) => e.name) }),
    });
    if (!response.ok) throw new Error(`cannot read the batch (${response.status})`);
    const lines = await response.json();
    return new Map(lines.map((l) => [l.name, l]));
  }

  async function run(entries) {
    if (entries.length === 0) return;
    // The sidecar first, so its labels apply to the images that follow.
    entries.sort((a, b) => Number(!/\.csv$/i.test(a.name)) - Number(!/\.csv$/i.test(b.name)));
    let done;
    try {
      done = await recorded(entries);
    } catch (err) {
      summary.textContent = say("upload-nothing-sent", { why: err.message });
      return;
    }
    const queue = [];
    let skipped = 0;
    for (const e of entries) {
      const earlier = done.get(e.name);
      const tr = row(e.name, e.file.size, earlier && earlier.tag);
      if (earlier) remember(earlier.tag, e.name);
      if (earlier && DONE.has(earlier.outcome)) {
        tr.querySelector("progress").value = 1;
        show(tr, earlier.outcome, say("upload-already-here"));
        skipped++;
      } else if (e.file.size > limit) {
        show(tr, "refused", say("upload-larger-than", { size: humanSize(limit) }));
      } else {
        show(tr, "waiting", "");
        queue.push({ ...e, tr });
      }
    }
    let finished = 0;
    let failed = 0;
    const total = queue.length;
    const report = () => {
      summary.textContent = say("upload-progress-sent", { finished, total }) +
        (skipped ? say("upload-progress-skipped", { skipped }) : "") +
        (failed ? say("upload-progress-failed", { failed }) : "") + ".";
    };
    report();
    async function worker() {
      for (let next = queue.shift(); next; next = queue.shift()) {
        show(next.tr, "sending", "");
        try {
          const lines = await sendWithRetries(next.file, next.name, next.tr);
          for (const line of lines) {
            if (line.tag) remember(line.tag, line.name);
            const tr = line.name === next.name ? next.tr : row(line.name, line.bytes, line.tag);
            if (line.tag) tr.dataset.tag = line.tag;
            tr.querySelector("progress").value = 1;
            show(tr, line.outcome, describe(line), line);
          }
        } catch (err) {
          failed++;
          show(next.tr, "failed", err.message);
        }
        finished++;
        report();
      }
    }
    await Promise.all(Array.from({ length: PARALLEL }, worker));
  }

  function fromInput(input) {
    return Array.from(input.files).map((f) => ({ file: f, name: f.webkitRelativePath || f.name }));
  }

  // Folders dropped on the page are walked through the entries API.
  async function walk(entry, prefix, out) {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => entry.file(res, rej));
      out.push({ file, name: prefix + entry.name });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`, out);
      }
    }
  }

  for (const id of ["pick-files", "pick-folder"]) {
    const input = document.getElementById(id);
    input.addEventListener("change", () => {
      run(fromInput(input));
      input.value = "";
    });
  }
  const submit = document.getElementById("send-form");
  if (submit) submit.hidden = true;

  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    const out = [];
    const items = Array.from(e.dataTransfer.items || []);
    const entries = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
    if (entries.some((x) => x)) {
      for (const entry of entries) if (entry) await walk(entry, "", out);
    } else {
      for (const f of Array.from(e.dataTransfer.files)) out.push({ file: f, name: f.name });
    }
    run(out);
  });
})();
