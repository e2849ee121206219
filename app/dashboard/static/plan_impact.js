// An impact preview's page while its job runs: long-poll the job (GET …/jobs/<id>?wait=) with
// the session, show its progress, and reload the page once it is finished, where the server
// renders the result.
(function () {
  "use strict";
  const card = document.getElementById("impact-job");
  if (!card) return;
  const FINISHED = ["done", "failed", "cancelled"];
  // Short enough that the progress moves every few seconds; the answer comes at once when the
  // job finishes whatever the wait.
  const WAIT_SECONDS = 3;
  const RETRY_MS = 2000; // after an error or a 429: all wait slots taken
  if (FINISHED.includes(card.dataset.state)) return;
  const done = document.getElementById("impact-done");
  const total = document.getElementById("impact-total");
  const bar = document.getElementById("impact-progress");
  const state = document.getElementById("impact-state");

  function show(job) {
    done.textContent = String(job.done);
    if (job.total !== null) {
      total.textContent = String(job.total);
      bar.max = Math.max(job.total, 1);
    }
    bar.value = job.done;
    // Between slices a job is queued again: once it has begun, it is judging all the same.
    state.textContent = job.state === "queued" && !job.done ? "Waiting for a worker" : "Judging";
  }

  async function follow() {
    for (;;) {
      try {
        const response = await fetch(card.dataset.jobUrl + "?wait=" + WAIT_SECONDS, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (response.ok) {
          const job = await response.json();
          show(job);
          if (FINISHED.includes(job.state)) {
            location.reload();
            return;
          }
          continue;
        }
      } catch (error) {
        // The network or the server is away for a moment: try again below.
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  follow();
})();
