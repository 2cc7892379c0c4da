// Starts Swagger UI on /docs from a file, so the page needs no inline script under the CSP.
window.SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
