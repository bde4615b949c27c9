// Starts Swagger UI on /docs. Kept in a file, not inline in the page, so that /docs works under a
// Content-Security-Policy with script-src 'self'. The parts that depend on the service's settings (the
// OpenAPI document URL and the initOAuth options: client id, PKCE, preselected scopes) come from
// swagger-ui-config.json, built by the service at start-up.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  fetch("/docs/swagger-ui-config.json", { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("/docs/swagger-ui-config.json answered " + response.status);
      }
      return response.json();
    })
    .then(function (config) {
      var ui = SwaggerUIBundle({
        url: config.openapi_url,
        dom_id: "#swagger-ui",
        deepLinking: true,
        presets: [SwaggerUIBundle.presets.apis],
        layout: "BaseLayout",
        // Offline: never send the document to the public validator.
        validatorUrl: null,
        // The redirect page is served under /docs, not next to the page's directory.
        oauth2RedirectUrl: window.location.origin + "/docs/oauth2-redirect.html",
        displayRequestDuration: true,
        persistAuthorization: false
      });
      ui.initOAuth(config.oauth);
      window.ui = ui;
    })
    .catch(function (error) {
      root.textContent = "Cannot start the API documentation: " + error.message +
        ". The raw document is at /openapi.json.";
    });
})();
