"""Command line: `python -m server run | create-admin | worker flusher|personas|all`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from server.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from hypercorn.config import Config


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("hypercorn.access", "engineio", "socketio", "mongoeco"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def hypercorn_config(settings: Settings, host: str, port: int) -> Config:
    from hypercorn.config import Config

    from server.bootstrap import STARTUP_TIMEOUT_S

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.backlog = settings.server.backlog
    config.startup_timeout = STARTUP_TIMEOUT_S  # a first start may train the persona model
    config.graceful_timeout = 3
    config.accesslog = None
    config.websocket_ping_interval = None
    return config


async def _serve(args: argparse.Namespace) -> None:
    from hypercorn.asyncio import serve

    from server.app import create_app
    from server.container import Services

    settings = load_settings()
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port

    def banner(services: Services) -> None:
        base = f"http://{host}:{port}"
        admin_hint = (
            f"password in {services.settings.var_dir / 'admin-password.txt'}"
            if (services.settings.var_dir / "admin-password.txt").exists()
            else "the account from VITRINE_ADMIN_USER / VITRINE_ADMIN_PASSWORD"
        )
        print(
            "\n".join(
                [
                    "",
                    f"  Vitrine shop:   {base}/",
                    f"  Admin console:  {base}/admin  (log in with {admin_hint})",
                    "  Stop with Ctrl-C.",
                    "",
                ]
            ),
            flush=True,
        )

    app = create_app(settings, on_ready=banner)
    config = hypercorn_config(settings, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async def shutdown() -> None:
        await stop.wait()
        # On Python >= 3.12 Hypercorn waits for every open connection before its graceful
        # timeout, and a Socket.IO websocket stays open: close them (engine.io level, so the
        # clients reconnect and resend what was not acknowledged once a server is back).
        if app.sio.eio.sockets:  # (engine.io's disconnect() fails when there are none)
            await app.sio.eio.disconnect()

    await serve(app.asgi, config, shutdown_trigger=shutdown)  # type: ignore[arg-type]


async def _create_admin(args: argparse.Namespace) -> None:
    from server.adapters.admin_store import AdminStore
    from server.adapters.mongo_store import MongoStore

    settings = load_settings()
    password = args.password or getpass.getpass("Password (10+ characters): ")
    store = await MongoStore.open(settings.mongodb.uri, settings.mongodb.database, settings.var_dir)
    try:
        admin = await AdminStore(store).create(args.username, password, args.role)
    finally:
        await store.close()
    print(f"created {admin.role} {admin.username!r}")


async def _worker(args: argparse.Namespace) -> None:
    """Run the flusher or the persona worker as its own process (no web server)."""
    from server.bootstrap import start_services, stop_services

    roles = {"flusher": {"flusher"}, "personas": {"personas"}, "all": {"flusher", "personas"}}
    # The settings stay the deployment's own (a flusher still keeps the personas group's
    # entries until that group has read them); the role only picks what this process runs.
    settings = load_settings()
    if settings.redis.url == "embedded":
        raise SettingsError(
            "a separate worker process needs a shared Redis: set VITRINE_REDIS__URL=redis://... "
            '(the web process starts the embedded one; with [workers] mode = "process" it '
            "starts its workers itself). MongoDB may be a mongodb:// URI or the embedded "
            "engine's file, which processes on one machine share."
        )
    services = await start_services(
        settings, seed=False, worker_process=True, roles=frozenset(roles[args.role])
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"worker {args.role} running ({', '.join(t.get_name() for t in services.tasks)})",
          flush=True)  # fmt: skip
    try:
        await stop.wait()
    finally:
        await stop_services(services)


async def _export_session(args: argparse.Namespace) -> None:
    """Write a session's tracker batches and rrweb chunks as NDJSON (docs/admin.md)."""
    from server.adapters.event_store import MongoEventStore, session_chunks
    from server.adapters.mongo_store import MongoStore
    from server.adapters.replay_store import ReplayStore, export_lines

    settings = load_settings()
    store = await MongoStore.open(settings.mongodb.uri, settings.mongodb.database, settings.var_dir)
    try:
        events = MongoEventStore(store)
        session = await events.session(args.session_id)
        tracker = await session_chunks(events, args.session_id)
        vid = session.get("vid") if session else None
        rrweb = await ReplayStore(store).of_session(args.session_id, vid)
    finally:
        await store.close()
    if not tracker and not rrweb:
        print(f"no events stored for session {args.session_id}", file=sys.stderr)
        raise SystemExit(1)
    data = b"".join(line + b"\n" for line in export_lines(tracker, rrweb))
    if args.out:
        await asyncio.to_thread(Path(args.out).write_bytes, data)
    else:
        sys.stdout.buffer.write(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description="Vitrine")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve the shop (Hypercorn)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    create_admin = commands.add_parser("create-admin", help="create an admin or analyst account")
    create_admin.add_argument("username")
    create_admin.add_argument("--role", choices=("admin", "analyst"), default="admin")
    create_admin.add_argument("--password", help="prompted for when omitted")
    worker = commands.add_parser("worker", help="run the flusher and/or persona worker alone")
    worker.add_argument("role", choices=("flusher", "personas", "all"))
    export = commands.add_parser("export-session", help="write a session's events as NDJSON")
    export.add_argument("session_id")
    export.add_argument("--out", help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    _configure_logging()
    handlers = {
        "run": _serve, "create-admin": _create_admin, "worker": _worker,
        "export-session": _export_session,
    }  # fmt: skip
    try:
        asyncio.run(handlers[args.command](args))
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
