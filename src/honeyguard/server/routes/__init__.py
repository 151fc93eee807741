"""Route modules: each exposes ``router``; server/app.py lists them in ROUTERS."""
