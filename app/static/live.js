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

  function lastSegment(path) {
    const parts = path.split("/").filter(Boolean);
    return parts.length ? parts[parts.length - 1].replace(/~1/g, "/").replace(/~0/g, "~") : "";
  }

  function show(event) {
    document.getElementById("detail").hidden = false;
    document.getElementById("detail-title").textContent =
      event.event_name + " · " + event.status + " · " + event.task_id;
    const list = document.getElementById("detail-violations");
    list.replaceChildren();
    const violated = new Set();
    for (const v of event.errors || []) {
      const item = document.createElement("li");
      const path = document.createElement("code");
      path.textContent = v.path || "/";
      item.append(path, " " + (v.message || v.rule));
      list.append(item);
      violated.add(lastSegment(v.path || ""));
    }
    // The payload line by line; lines of a violated property are marked and carry its message.
    const pre = document.getElementById("detail-payload");
    pre.replaceChildren();
    for (const line of JSON.stringify(event.payload, null, 2).split("\n")) {
      const span = document.createElement("span");
      span.textContent = line;
      const key = /^\s*"((?:[^"\\]|\\.)*)":/.exec(line);
      if (key && violated.has(JSON.parse('"' + key[1] + '"'))) span.className = "violated";
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
