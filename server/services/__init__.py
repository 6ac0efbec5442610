"""The application layer: what Vitrine does, between the web edge and the adapters.

Workers and sockets call these; `server/web/` blueprints parse a request, call one of them
and answer. Nothing here imports Quart or python-socketio.
"""
