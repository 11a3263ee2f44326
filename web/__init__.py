"""The Starlette application: routing, middleware, auth, pages, static files and the CLI."""
