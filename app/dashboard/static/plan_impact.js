// An impact preview's page while its job runs: long-poll the job (GET …/jobs/<id>?wait=) with
// the session, show its progress, and reload the page once it is finished, where the server
// renders the result.
(function () {
  "use strict";
  const card = document.getElementById("impact-job");
  if (!card) return;
  const FINISHED = ["done", "failed", "cancelled"];
  const WAIT_SECONDS = 10; // within the server's cap (TASK_WAIT_MAX_SECONDS)
  const RETRY_MS = 2000; // after an error or a 429: all wait slots taken
  if (FINISHED.includes(card.dataset.state)) return;
  const done = document.getElementById("impact-done");
  const total = document.getElementById("impact-total");
  const bar = document.getElementById("impact-progress");
  const text = document.getElementById("impact-progress-text");

  function show(job) {
    done.textContent = String(job.done);
    if (job.total !== null) {
      total.textContent = String(job.total);
      bar.max = Math.max(job.total, 1);
    }
    bar.value = job.done;
    text.firstChild.textContent = job.state.charAt(0).toUpperCase() + job.state.slice(1) + ": ";
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
