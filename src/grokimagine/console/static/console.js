// The console's own script: copy and reveal buttons, live task progress, the playground.
// No inline scripts anywhere (the Content-Security-Policy forbids them); data comes from
// <script type="application/json"> blocks and data-* attributes.
"use strict";

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));
  const readJson = (id) => JSON.parse(document.getElementById(id).textContent);

  // --- Copy and reveal ---------------------------------------------------------------------
  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
  }

  $$("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const target = $(button.dataset.copy);
      await copyText("value" in target ? target.value : target.textContent);
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = label; }, 1500);
    });
  });

  $$("[data-reveal]").forEach((button) => {
    button.addEventListener("click", () => {
      const target = $(button.dataset.reveal);
      const hidden = target.type === "password";
      target.type = hidden ? "text" : "password";
      button.textContent = hidden ? "Hide secret" : "Reveal secret";
    });
  });

  // --- Navigation menu on narrow screens -----------------------------------------------------
  const menuButton = $(".menu-button");
  if (menuButton) {
    const menu = document.getElementById(menuButton.getAttribute("aria-controls"));
    menuButton.addEventListener("click", () => {
      const open = menuButton.getAttribute("aria-expanded") !== "true";
      menuButton.setAttribute("aria-expanded", String(open));
      menu.classList.toggle("open", open);
    });
  }

  // --- Tabs: one Tab stop, arrow keys move between them (WAI-ARIA tabs pattern) -------------
  function setUpTabs(list, onSelect) {
    const tabs = $$('[role="tab"]', list);
    const select = (tab, focus) => {
      tabs.forEach((other) => {
        const chosen = other === tab;
        other.classList.toggle("active", chosen);
        other.setAttribute("aria-selected", String(chosen));
        other.tabIndex = chosen ? 0 : -1;
      });
      if (focus) tab.focus();
      onSelect(tab);
    };
    tabs.forEach((tab, index) => {
      tab.tabIndex = tab.getAttribute("aria-selected") === "true" ? 0 : -1;
      tab.addEventListener("click", () => select(tab, false));
      tab.addEventListener("keydown", (event) => {
        const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
        if (!(event.key in moves)) return;
        event.preventDefault();
        select(tabs[(moves[event.key] + tabs.length) % tabs.length], true);
      });
    });
  }

  // --- Live task state ---------------------------------------------------------------------
  const FINISHED = ["completed", "failed", "canceled"];

  function describe(task) {
    if (task.status === "pending") {
      return task.queue_position === 0 ? "Queued: next in line"
        : `Queued: ${task.queue_position} task(s) ahead`;
    }
    if (task.status === "processing") return `Rendering: ${task.progress}%`;
    if (task.status === "completed") return "Done";
    if (task.error) return `${task.status}: ${task.error.message}`;
    return task.status;
  }

  // Follows a task by the server's event stream (fed by its one task watcher). A page follows
  // one task at a time: following another closes the previous stream. Falls back to polling
  // only where the browser has no EventSource or the stream cannot be opened.
  let following = null;
  function followTask(taskId, onUpdate) {
    if (following) following.close();
    let done = false;
    const url = `/console/api/tasks/${encodeURIComponent(taskId)}`;
    const finish = (task) => { done = FINISHED.includes(task.status); onUpdate(task); return done; };
    const poll = async () => {
      while (!done && following === current) {
        const answer = await fetch(url, { credentials: "same-origin" });
        if (answer.ok && finish((await answer.json()).data)) return;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    };
    const current = { close: () => { done = true; if (current.source) current.source.close(); } };
    following = current;
    if (!window.EventSource) { poll(); return; }
    const source = new EventSource(`${url}/events`);
    current.source = source;
    source.addEventListener("task", (event) => {
      if (finish(JSON.parse(event.data))) source.close();
    });
    source.onerror = () => {
      // The browser reconnects by itself (with Last-Event-ID) while the stream is CONNECTING;
      // only a closed one (refused) falls back to polling.
      if (source.readyState === EventSource.CLOSED && !done) poll();
    };
  }

  function showProgress(bar, task) {
    const value = task.status === "completed" ? 100 : task.progress || 0;
    bar.style.width = `${value}%`;
    bar.parentElement.setAttribute("aria-valuenow", String(value));
  }

  const liveTask = $("[data-live-task]");
  if (liveTask) {
    followTask(liveTask.dataset.liveTask, (task) => {
      $("[data-live-text]", liveTask).textContent = describe(task);
      showProgress($("[data-progress-bar]", liveTask), task);
      if (FINISHED.includes(task.status)) window.location.reload();
    });
  }

  // --- Playground --------------------------------------------------------------------------
  const form = $("#playground-form");
  if (!form) return;
  const pricing = readJson("pricing-data");
  const apiBase = $(".playground").dataset.apiBase;
  const images = [];  // data URIs, read in the browser: the generate body carries them as-is
  let snippetKind = "curl";

  function fillSelect(select, values, label) {
    const previous = select.value || select.dataset.default;
    select.innerHTML = "";
    values.forEach((value) => {
      const option = document.createElement("option");
      option.value = String(value);
      option.textContent = label(value);
      select.appendChild(option);
    });
    if (values.map(String).includes(String(previous))) select.value = String(previous);
  }

  function applyMode() {
    const mode = pricing.modes[form.mode.value];
    fillSelect(form.duration, mode.durations, (s) => `${s} s`);
    fillSelect(form.resolution, mode.resolutions, (r) => r);
    fillSelect(form.n, Array.from({ length: mode.max_n }, (_, i) => i + 1), (n) => String(n));
    $$("[data-capability]").forEach((field) => {
      field.hidden = !mode[field.dataset.capability];
    });
  }

  function body() {
    const mode = pricing.modes[form.mode.value];
    const request = { mode: form.mode.value, prompt: form.prompt.value, ratio: form.ratio.value };
    if (images.length) request.images = images.slice();
    const duration = Number(form.duration.value);
    if (duration && duration !== 6) request.duration = duration;
    if (form.resolution.value && form.resolution.value !== "480p") request.resolution = form.resolution.value;
    const n = Number(form.n.value);
    if (n > 1) request.n = n;
    if (mode.seed && form.seed.value !== "") request.seed = Number(form.seed.value);
    if (mode.negative_prompt && form.negative_prompt.value.trim()) {
      request.negative_prompt = form.negative_prompt.value;
    }
    return request;
  }

  async function post(path, payload) {
    const answer = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(payload),
    });
    const data = await answer.json().catch(() => ({ message: `HTTP ${answer.status}` }));
    if (!answer.ok) throw new Error(data.message || `HTTP ${answer.status}`);
    return data.data;
  }

  // Two kinds of error: the price check's (replaced by the next check) and a refused Generate's,
  // which stays until the person changes the form or generates again.
  let quoteError = "";
  let submitError = "";
  function showErrors() {
    const box = $("#pg-error");
    const message = submitError || quoteError;
    box.textContent = message;
    box.hidden = !message;
  }
  function showError(message) {
    submitError = message || "";
    showErrors();
  }
  function showQuoteError(message) {
    quoteError = message || "";
    showErrors();
  }

  // Snippets show the request as the API takes it; long data URIs are shortened for reading.
  function snippetBody() {
    const request = body();
    if (request.images) request.images = request.images.map((uri) => uri.length > 80 ? `${uri.slice(0, 40)}...` : uri);
    return request;
  }

  // The `grokimagine-client` command (installed with the server, or alone with the SDK) with
  // the same options.
  function shellQuote(text) {
    return `'${String(text).replace(/'/g, "'\\''")}'`;
  }

  const OPTION_FLAGS = { mode: "--mode", ratio: "--ratio", n: "--n", duration: "--duration",
    resolution: "--resolution", seed: "--seed", negative_prompt: "--negative-prompt" };

  function cliCommand(request) {
    const parts = [`grokimagine-client generate ${shellQuote(request.prompt)}`];
    Object.entries(OPTION_FLAGS).forEach(([field, flag]) => {
      if (request[field] !== undefined) parts.push(`${flag} ${shellQuote(request[field])}`);
    });
    (request.images || []).forEach((_, index) => parts.push(`-i image${index + 1}.png`));
    parts.push(`--base-url ${apiBase} --wait -o .`);
    return parts.join(" \\\n  ");
  }

  // Python with our SDK (grokimagine_client): create_and_wait takes the same options.
  function pythonLiteral(value) {
    return typeof value === "string" ? JSON.stringify(value) : String(value);
  }

  function pythonSnippet(request) {
    const options = Object.keys(OPTION_FLAGS)
      .filter((field) => request[field] !== undefined)
      .map((field) => `    ${field}=${pythonLiteral(request[field])},`);
    if (request.images) {
      const files = request.images.map((_, index) => `"image${index + 1}.png"`).join(", ");
      options.push(`    images=[${files}],`);
    }
    return [
      "import os",
      "",
      "from grokimagine_client import GrokImagine",
      "",
      `client = GrokImagine(api_key=os.environ["GROKIMAGINE_API_KEY"], base_url="${apiBase}")`,
      "task = client.videos.create_and_wait(",
      `    ${pythonLiteral(request.prompt)},`,
      ...options,
      ")",
      'for path in client.videos.download(task, "."):',
      "    print(task.status, path)",
    ].join("\n");
  }

  function renderSnippet() {
    const request = snippetBody();
    const compact = JSON.stringify(snippetBody());
    const quoted = compact.replace(/'/g, "'\\''");
    const snippets = {
      curl: `curl -X POST ${apiBase}/v1/generate \\\n  -H "Authorization: Bearer $GROKIMAGINE_API_KEY" \\\n  -H "Content-Type: application/json" \\\n  -d '${quoted}'`,
      python: pythonSnippet(request),
      cli: cliCommand(request),
    };
    $("#snippet").textContent = snippets[snippetKind];
  }

  let quoteTimer = null;
  function refresh() {
    renderSnippet();
    clearTimeout(quoteTimer);
    quoteTimer = setTimeout(async () => {
      const request = body();
      if (!request.prompt.trim()) request.prompt = "price check";
      try {
        const quote = await post("/console/api/quote", request);
        $("#price").textContent = quote.price.toLocaleString();
        $("#pg-balance").textContent = quote.balance.toLocaleString();
        $("#price-note").hidden = quote.affordable;
        showQuoteError("");
      } catch (error) {
        $("#price").textContent = "—";
        showQuoteError(error.message);
      }
    }, 150);
  }

  setUpTabs($(".tabs"), (tab) => {
    snippetKind = tab.dataset.snippet;
    renderSnippet();
  });

  // Images: file input and drag and drop, read as data URIs.
  const dropzone = $("#dropzone");
  const fileInput = $("#images");
  function addFiles(files) {
    Array.from(files).slice(0, 4 - images.length).forEach((file) => {
      if (!file.type.startsWith("image/")) { showError(`${file.name} is not an image`); return; }
      const reader = new FileReader();
      reader.onload = () => {
        images.push(reader.result);
        const item = document.createElement("li");
        const img = document.createElement("img");
        img.src = reader.result;
        img.alt = file.name;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "small";
        remove.textContent = "Remove image";
        remove.addEventListener("click", () => {
          images.splice(images.indexOf(reader.result), 1);
          item.remove();
          refresh();
        });
        item.append(img, remove);
        $("#image-previews").appendChild(item);
        refresh();
      };
      reader.readAsDataURL(file);
    });
  }
  fileInput.addEventListener("change", () => { addFiles(fileInput.files); fileInput.value = ""; });
  ["dragenter", "dragover"].forEach((name) => dropzone.addEventListener(name, (event) => {
    event.preventDefault();
    dropzone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => dropzone.addEventListener(name, (event) => {
    event.preventDefault();
    dropzone.classList.remove("over");
  }));
  dropzone.addEventListener("drop", (event) => addFiles(event.dataTransfer.files));

  // A person changing the form has seen the refusal: it goes, and the price is checked again.
  const edited = () => { showError(""); refresh(); };
  form.mode.addEventListener("change", () => { applyMode(); edited(); });
  form.addEventListener("input", edited);
  form.addEventListener("change", edited);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    if (!form.prompt.value.trim()) { showError("Write a prompt first."); form.prompt.focus(); return; }
    const button = $("#generate");
    button.disabled = true;
    button.textContent = "Generating…";
    const video = $("#result-video");
    video.hidden = true;
    video.removeAttribute("src");
    $("#result-idle").hidden = true;
    $("#result-live").hidden = false;
    const status = $("#live-status");
    const text = $("#live-text");
    const bar = $("#live-progress");
    bar.style.width = "0%";
    try {
      const created = await post("/console/api/generate", body());
      $("#live-link").href = `/console/tasks/${created.task_id}`;
      followTask(created.task_id, (task) => {
        status.textContent = task.status;
        status.className = `badge badge-${task.status}`;
        text.textContent = describe(task);
        showProgress(bar, task);
        if (!FINISHED.includes(task.status)) return;
        button.disabled = false;
        button.textContent = "Generate";
        if (task.status === "completed" && task.response.length) {
          video.src = task.response[0];
          if (task.thumbnail_url) video.poster = task.thumbnail_url;
          video.hidden = false;
          video.play().catch(() => {});
        }
        refresh();
      });
    } catch (error) {
      $("#result-live").hidden = true;
      $("#result-idle").hidden = false;
      showError(error.message);
      button.disabled = false;
      button.textContent = "Generate";
    }
  });

  applyMode();
  refresh();
})();
