// The live stream: poll the app's events.json every second and put new events on top.
// Every value from an event goes into the page as text (textContent), never as HTML, so
// nothing an app sends can run here.
(function () {
  "use strict";
  const table = document.getElementById("events");
  const body = table.querySelector("tbody");
  const form = document.getElementById("filters");
  const pauseButton = document.getElementById("pause");
  const state = document.getElementById("stream-state");
  const detail = document.getElementById("detail");
  const side = document.getElementById("side");
  const toggle = document.getElementById("filters-toggle");
  // Wide enough for the detail beside the table (the same width as in app.css).
  const wide = window.matchMedia("(min-width: 1000px)");
  const MAX_ROWS = 500; // like Segment's debugger: a page kept open all day stays light
  const phone = window.matchMedia("(max-width: 640px)"); // where columns give way (app.css)
  let newest = 0;
  let generation = 0;
  let paused = false;
  let waiting = []; // events that arrived while paused, newest first
  let waitingCount = 0;
  let opened = null; // the row whose detail is shown
  let clockSkew = 0; // server time minus this browser's time, when they differ by over 2 s

  const exact = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    second: "2-digit", fractionalSecondDigits: 3, hourCycle: "h23", timeZoneName: "short",
  });

  function ago(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 1) return "now";
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  // A <time> saying how long ago, with the exact local time on hover.
  function timeElement(iso) {
    const time = document.createElement("time");
    if (!iso) {
      time.textContent = "—";
      return time;
    }
    const when = new Date(iso);
    time.dateTime = iso;
    time.title = exact.format(when);
    time.dataset.ms = String(when.getTime());
    time.textContent = ago(Date.now() + clockSkew - when.getTime());
    return time;
  }

  function tick() {
    const now = Date.now() + clockSkew;
    for (const time of document.querySelectorAll("#live time[data-ms]")) {
      const text = ago(now - Number(time.dataset.ms));
      if (time.textContent !== text) time.textContent = text;
    }
  }

  function badge(status) {
    const span = document.createElement("span");
    span.className = "badge";
    // Known verdicts get their own look; anything else a neutral one (text either way).
    if (["valid", "invalid", "unplanned"].includes(status)) span.classList.add(status);
    span.textContent = status == null ? "—" : String(status);
    return span;
  }

  function runLink(run) {
    if (!run) return "—";
    const link = document.createElement("a");
    link.href = table.dataset.runs + encodeURIComponent(run);
    link.textContent = run;
    link.title = "Test run report: " + run;
    link.addEventListener("click", (click) => click.stopPropagation());
    return link;
  }

  function cell(row, content, className) {
    const td = row.insertCell();
    if (content instanceof Node) td.append(content);
    else td.textContent = content == null || content === "" ? "—" : String(content);
    if (className) td.className = className;
    return td;
  }

  function query(after) {
    const params = new URLSearchParams(new FormData(form));
    for (const [key, value] of [...params]) if (!value) params.delete(key);
    if (after) params.set("after", after);
    return table.dataset.url + "?" + params.toString();
  }

  // A violation's path (a JSON pointer into what was validated) as a pointer into the payload:
  // native events are flat, so their "/properties/price" is the payload's "/price".
  function payloadPointer(path, payload) {
    const props = payload && payload.properties;
    const nested = props !== null && typeof props === "object" && !Array.isArray(props);
    if (path.startsWith("/properties") && !nested) return path.slice("/properties".length);
    return path;
  }

  // The deepest part of `pointer` that exists in `value` (a missing required property marks
  // the object that lacks it).
  function existing(pointer, value) {
    let found = "";
    for (const raw of pointer.split("/").slice(1)) {
      const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
      if (value === null || typeof value !== "object" || !(key in value)) break;
      value = value[key];
      found += "/" + raw;
    }
    return found;
  }

  // The payload as pretty JSON, one span per line, each knowing the pointer of its value.
  function lines(value, pointer, indent, label, comma, out) {
    const pad = "  ".repeat(indent) + (label === null ? "" : JSON.stringify(label) + ": ");
    const isObject = value !== null && typeof value === "object";
    const entries = isObject ? (Array.isArray(value) ? value.map((v, i) => [i, v])
      : Object.entries(value)) : [];
    if (!isObject || entries.length === 0) {
      const text = isObject ? (Array.isArray(value) ? "[]" : "{}") : JSON.stringify(value);
      out.push([pad + text + comma, pointer]);
      return out;
    }
    const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
    out.push([pad + open, pointer]);
    entries.forEach(([key, child], index) => {
      const escaped = String(key).replace(/~/g, "~0").replace(/\//g, "~1");
      lines(child, pointer + "/" + escaped, indent + 1, Array.isArray(value) ? null : key,
        index < entries.length - 1 ? "," : "", out);
    });
    out.push(["  ".repeat(indent) + close + comma, pointer]);
    return out;
  }

  function fact(list, name, value) {
    const term = document.createElement("dt");
    term.textContent = name;
    const description = document.createElement("dd");
    if (value instanceof Node) description.append(value);
    else description.textContent = value == null || value === "" ? "—" : String(value);
    list.append(term, description);
  }

  function fillDetail(event) {
    const title = document.getElementById("detail-title");
    title.replaceChildren(badge(event.status), " ", event.event_name == null ? "—" : String(event.event_name));
    const facts = document.getElementById("detail-facts");
    facts.replaceChildren();
    const received = timeElement(event.received_at);
    const full = document.createElement("span");
    full.append(received, " · " + received.title);
    fact(facts, "Received", full);
    fact(facts, "Test run", runLink(event.test_run));
    fact(facts, "Type", event.type);
    fact(facts, "App version", event.app_version);
    fact(facts, "Device", event.device_id);
    fact(facts, "User", event.user_id);
    fact(facts, "OS", event.os_name);
    const library = event.library || {};
    fact(facts, "Library", [library.name, library.version].filter(Boolean).join(" ") || null);
    fact(facts, "Plan version", event.plan_version);
    fact(facts, "Task id", event.task_id);

    const list = document.getElementById("detail-violations");
    list.replaceChildren();
    const errors = event.errors || [];
    // A warning (a pii finding under the app's "warn" policy) leaves the status as it is.
    const warnings = errors.filter((v) => v.severity === "warning").length;
    const failures = errors.length - warnings;
    const counts = [];
    if (failures) counts.push("Violations (" + failures + ")");
    if (warnings) counts.push("Warnings (" + warnings + ")");
    document.getElementById("detail-violations-title").textContent =
      counts.join(" · ") || "No violations";
    const marks = new Map(); // payload pointer → messages
    const warned = new Set(); // pointers marked by warnings only
    for (const v of errors) {
      const item = document.createElement("li");
      if (v.severity === "warning") item.className = "warning";
      const path = document.createElement("code");
      path.textContent = v.path || "/";
      const message = document.createElement("span");
      message.textContent = String(v.message || v.rule);
      item.append(path, message);
      list.append(item);
      const at = existing(payloadPointer(v.path || "", event.payload), event.payload);
      if (v.severity === "warning" && !marks.has(at)) warned.add(at);
      if (v.severity !== "warning") warned.delete(at);
      marks.set(at, [...(marks.get(at) || []), v.message || v.rule]);
    }
    // The payload line by line; the line of each violated value is marked, its message beside.
    const pre = document.getElementById("detail-payload");
    pre.replaceChildren();
    const seen = new Set();
    for (const [text, pointer] of lines(event.payload, "", 0, null, "", [])) {
      const span = document.createElement("span");
      span.textContent = text;
      if (marks.has(pointer) && !seen.has(pointer)) {
        seen.add(pointer); // an object's closing line is not marked again
        span.className = warned.has(pointer) ? "violated warning" : "violated";
        span.dataset.pointer = pointer;
        const note = document.createElement("em");
        note.textContent = "  ← " + marks.get(pointer).join("; ");
        span.append(note);
      }
      pre.append(span);
    }
  }

  // Where the detail goes: beside the table on a wide screen (a sticky panel, so it is in
  // view wherever the row is), else in a row of its own right under the clicked row.
  function place() {
    const old = body.querySelector("tr.detail-row");
    if (!opened) {
      side.prepend(detail);
      if (old) old.remove();
      return;
    }
    if (wide.matches) {
      side.prepend(detail);
      if (old) old.remove();
      return;
    }
    const holder = old || document.createElement("tr");
    holder.className = "detail-row";
    if (!old) holder.insertCell();
    // Span the columns shown: hidden ones would still count and squeeze the others.
    holder.cells[0].colSpan = [...table.tHead.rows[0].cells].filter(
      (th) => getComputedStyle(th).display !== "none").length;
    holder.cells[0].append(detail);
    opened.after(holder);
  }

  function open(row, event) {
    if (opened === row) return close();
    if (opened) opened.classList.remove("opened");
    opened = row;
    row.classList.add("opened");
    row.setAttribute("aria-expanded", "true");
    fillDetail(event);
    detail.hidden = false;
    document.getElementById("side-hint").hidden = true;
    place();
    side.scrollTop = 0;
    detail.scrollIntoView({ block: "nearest" });
  }

  // `refocus`: give the keyboard back to the row (not when the list itself is being reset).
  function close(refocus = true) {
    if (opened) {
      opened.classList.remove("opened");
      opened.setAttribute("aria-expanded", "false");
      if (refocus) opened.focus();
    }
    opened = null;
    detail.hidden = true;
    document.getElementById("side-hint").hidden = false;
    place();
  }

  function row(event) {
    const tr = document.createElement("tr");
    tr.dataset.id = event.id;
    tr.tabIndex = 0;
    tr.setAttribute("aria-expanded", "false");
    cell(tr, badge(event.status), "col-status");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = event.event_name == null ? "—" : String(event.event_name);
    name.title = name.textContent; // cut to two lines by app.css: the whole name on hover
    const what = cell(tr, name, "col-event");
    if (event.test_run) {
      // On a phone the run column gives way: the run goes under the event's name instead.
      const run = runLink(event.test_run);
      run.className = "run-inline";
      what.append(run);
    }
    cell(tr, timeElement(event.received_at), "col-time");
    cell(tr, runLink(event.test_run), "col-run");
    // Cut with an ellipsis (app.css): the whole value on hover.
    for (const value of [event.app_version, event.device_id]) {
      cell(tr, value, "col-extra").title = value == null ? "" : String(value);
    }
    tr.addEventListener("click", () => open(tr, event));
    tr.addEventListener("keydown", (key) => {
      if (key.target === tr && (key.key === "Enter" || key.key === " ")) {
        key.preventDefault();
        open(tr, event);
      }
    });
    return tr;
  }

  // Events come newest first; `onTop` puts them above what is shown (a poll), else below.
  function add(events, onTop) {
    const rows = events.map(row);
    if (onTop) body.prepend(...rows);
    else body.append(...rows);
    for (const event of events) newest = Math.max(newest, event.id);
    const shown = body.querySelectorAll("tr[data-id]");
    for (let i = MAX_ROWS; i < shown.length; i += 1) {
      if (shown[i] === opened) close(false);
      shown[i].remove();
    }
    document.getElementById("empty").hidden = shown.length > 0;
  }

  function showState() {
    if (!paused) {
      pauseButton.textContent = "Pause";
      pauseButton.classList.remove("paused");
      state.textContent = "Live: new events appear on top";
      return;
    }
    // The label says what a press does (not aria-pressed: the name changes with the state).
    pauseButton.classList.add("paused");
    pauseButton.textContent = waitingCount ? waitingCount + " new — resume" : "Resume";
    state.textContent = "Paused: the list stays still" +
      (waitingCount ? "; " + waitingCount + " new " + (waitingCount === 1 ? "event" : "events") +
        " waiting" : "");
  }

  function setPaused(value) {
    paused = value;
    if (!paused && waiting.length) add(waiting, true);
    if (!paused) {
      waiting = [];
      waitingCount = 0;
    }
    showState();
  }

  async function poll() {
    const mine = generation;
    const first = newest === 0;
    try {
      const response = await fetch(query(newest), { headers: { Accept: "application/json" } });
      if (!response.ok || mine !== generation) return;
      const events = (await response.json()).events;
      const server = Date.parse(response.headers.get("Date") || "");
      if (!Number.isNaN(server)) {
        const skew = server - Date.now();
        clockSkew = Math.abs(skew) > 2000 ? skew : 0;
      }
      if (mine !== generation || !events.length) return;
      if (first || !paused) {
        add(events, !first);
        return;
      }
      // Paused: keep them for later, and count them; the table does not move.
      for (const event of events) newest = Math.max(newest, event.id);
      waiting = events.concat(waiting).slice(0, MAX_ROWS);
      waitingCount += events.length;
      showState();
    } catch (error) {
      // Offline for a moment: the next poll catches up.
    }
  }

  function activeFilters() {
    return [...new FormData(form).values()].filter(Boolean).length;
  }

  function showFilters(open) {
    form.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
    const count = activeFilters();
    toggle.textContent = count ? "Filters (" + count + ")" : "Filters";
  }

  form.addEventListener("input", () => {
    generation += 1;
    newest = 0;
    waiting = [];
    waitingCount = 0;
    if (opened) close(false);
    body.replaceChildren();
    showState();
    showFilters(form.classList.contains("open"));
    poll();
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  pauseButton.addEventListener("click", () => setPaused(!paused));
  toggle.addEventListener("click", () => showFilters(!form.classList.contains("open")));
  document.getElementById("detail-close").addEventListener("click", () => close());
  document.addEventListener("keydown", (key) => {
    if (key.key === "Escape" && opened) close();
  });
  wide.addEventListener("change", place);
  phone.addEventListener("change", place);
  // Filters can come in the link (the overview links an event's name to its live events).
  for (const [key, value] of new URLSearchParams(location.search)) {
    if (form.elements[key]) form.elements[key].value = value;
  }
  showFilters(false);
  poll();
  setInterval(poll, 1000);
  setInterval(tick, 1000);
})();
