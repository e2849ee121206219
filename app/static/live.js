// The live stream: poll the app's events.json every second and put new events on top.
// Every value from an event goes into the page as text (textContent), never as HTML, so
// nothing an app sends can run here.
(function () {
  "use strict";
  const table = document.getElementById("events");
  const body = table.querySelector("tbody");
  const form = document.getElementById("filters");
  let newest = 0;
  let generation = 0;

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text == null ? "—" : String(text);
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

  function show(event) {
    document.getElementById("detail").hidden = false;
    document.getElementById("detail-title").textContent =
      event.event_name + " · " + event.status + " · " + event.task_id;
    const list = document.getElementById("detail-violations");
    list.replaceChildren();
    const marks = new Map(); // payload pointer → messages
    for (const v of event.errors || []) {
      const item = document.createElement("li");
      const path = document.createElement("code");
      path.textContent = v.path || "/";
      item.append(path, " " + (v.message || v.rule));
      list.append(item);
      const at = existing(payloadPointer(v.path || "", event.payload), event.payload);
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
        span.className = "violated";
        span.dataset.pointer = pointer;
        const note = document.createElement("em");
        note.textContent = "  ← " + marks.get(pointer).join("; ");
        span.append(note);
      }
      pre.append(span);
    }
  }

  function add(events, prepend) {
    for (const event of prepend ? events.slice().reverse() : events) {
      const row = document.createElement("tr");
      row.dataset.id = event.id;
      cell(row, event.received_at);
      cell(row, event.event_name);
      cell(row, event.status, "badge " + event.status);
      cell(row, event.app_version);
      cell(row, event.device_id);
      row.addEventListener("click", () => show(event));
      if (prepend) body.prepend(row); else body.append(row);
      newest = Math.max(newest, event.id);
    }
  }

  async function poll() {
    const mine = generation;
    try {
      const response = await fetch(query(newest), { headers: { Accept: "application/json" } });
      if (response.ok && mine === generation) add((await response.json()).events, newest > 0);
    } catch (error) {
      // Offline for a moment: the next poll catches up.
    }
  }

  form.addEventListener("input", () => {
    generation += 1;
    newest = 0;
    body.replaceChildren();
    poll();
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  // Filters can come in the link (the overview links an event's name to its live events).
  for (const [key, value] of new URLSearchParams(location.search)) {
    if (form.elements[key]) form.elements[key].value = value;
  }
  poll();
  setInterval(poll, 1000);
})();
