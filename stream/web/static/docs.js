// The browsable API page (/docs): Swagger UI over this worker's /openapi.json.
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#api", deepLinking: true, tryItOutEnabled: false });
