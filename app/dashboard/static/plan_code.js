// The plan page's "Typed tracking code" box: the lvd command under the form follows the
// language and version picked, so what a shell or CI job runs gets the same files.
(function () {
  "use strict";
  const form = document.getElementById("code-form");
  const command = document.getElementById("code-command");
  if (!form || !command) return;
  const language = document.getElementById("code-language");
  const version = document.getElementById("code-version");
  const published = form.dataset.published;

  function update() {
    const parts = ["lvd codegen --language", language.value, "--out src/tracking"];
    // Without --version lvd asks for the published plan.
    if (version.value !== published) parts.push("--version", version.value);
    command.textContent = parts.join(" ");
  }

  language.addEventListener("change", update);
  version.addEventListener("change", update);
  update();
})();
