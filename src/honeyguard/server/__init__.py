"""The collector's HTTP API (Litestar, served by uvicorn). ``create_app`` is in app.py."""
