// Renders /openapi.json with the vendored Swagger UI (app/static/vendor/swagger-ui).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // Requests made with "Try it out" carry the dashboard session cookie (same origin).
    withCredentials: true,
  });
});
