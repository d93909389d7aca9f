"""HTTP API: the app factory (``kato.api.app.create_app``), routers, schemas and errors."""
